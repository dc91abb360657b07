-- The workbench catalog schema for a fresh Postgres database.
-- Generated from the Alembic migrations by `workbench db sql` (make schema): do not edit.

BEGIN;

CREATE TABLE alembic_version (
    version_num VARCHAR(32) NOT NULL, 
    CONSTRAINT alembic_version_pkc PRIMARY KEY (version_num)
);

-- Running upgrade  -> 0001

CREATE TABLE datasets (
    id BIGSERIAL NOT NULL, 
    owner VARCHAR(128) NOT NULL, 
    name VARCHAR(256) NOT NULL, 
    kind VARCHAR(32) NOT NULL, 
    status VARCHAR(16) NOT NULL, 
    parent_id BIGINT, 
    source TEXT, 
    attribute_types JSONB NOT NULL, 
    params JSONB NOT NULL, 
    created_at TIMESTAMP WITH TIME ZONE DEFAULT now() NOT NULL, 
    PRIMARY KEY (id), 
    FOREIGN KEY(parent_id) REFERENCES datasets (id) ON DELETE SET NULL, 
    CONSTRAINT uq_datasets_owner_name UNIQUE (owner, name)
);

CREATE TABLE jobs (
    id VARCHAR(64) NOT NULL, 
    owner VARCHAR(128) NOT NULL, 
    kind VARCHAR(32) NOT NULL, 
    state VARCHAR(16) NOT NULL, 
    params JSONB NOT NULL, 
    progress FLOAT NOT NULL, 
    message TEXT NOT NULL, 
    metrics JSONB NOT NULL, 
    result JSONB, 
    error TEXT, 
    abort_requested BOOLEAN NOT NULL, 
    deliveries INTEGER NOT NULL, 
    worker VARCHAR(256), 
    created_at TIMESTAMP WITH TIME ZONE DEFAULT now() NOT NULL, 
    started_at TIMESTAMP WITH TIME ZONE, 
    heartbeat_at TIMESTAMP WITH TIME ZONE, 
    finished_at TIMESTAMP WITH TIME ZONE, 
    PRIMARY KEY (id)
);

CREATE INDEX ix_jobs_owner_state ON jobs (owner, state);

CREATE TABLE images (
    id BIGSERIAL NOT NULL, 
    dataset_id BIGINT NOT NULL, 
    owner VARCHAR(128) NOT NULL, 
    sha256 VARCHAR(64) NOT NULL, 
    label VARCHAR(256) NOT NULL, 
    split VARCHAR(16), 
    width INTEGER NOT NULL, 
    height INTEGER NOT NULL, 
    format VARCHAR(16) NOT NULL, 
    bytes BIGINT NOT NULL, 
    original_name TEXT NOT NULL, 
    attributes JSONB NOT NULL, 
    sample_key BIGINT NOT NULL, 
    source_image_id BIGINT, 
    created_at TIMESTAMP WITH TIME ZONE DEFAULT now() NOT NULL, 
    PRIMARY KEY (id), 
    FOREIGN KEY(dataset_id) REFERENCES datasets (id) ON DELETE CASCADE, 
    FOREIGN KEY(source_image_id) REFERENCES images (id) ON DELETE SET NULL, 
    CONSTRAINT uq_images_dataset_sha256 UNIQUE (dataset_id, sha256)
);

CREATE INDEX ix_images_attributes_gin ON images USING gin (attributes jsonb_path_ops);

CREATE INDEX ix_images_dataset_label_id ON images (dataset_id, label, id);

CREATE INDEX ix_images_dataset_sample_key ON images (dataset_id, sample_key);

CREATE INDEX ix_images_dataset_split_id ON images (dataset_id, split, id);

CREATE TABLE models (
    id BIGSERIAL NOT NULL, 
    owner VARCHAR(128) NOT NULL, 
    name VARCHAR(256) NOT NULL, 
    arch VARCHAR(64) NOT NULL, 
    classes JSONB NOT NULL, 
    image_size INTEGER NOT NULL, 
    view JSONB NOT NULL, 
    train_image_ids JSONB NOT NULL, 
    train_ids_sha256 VARCHAR(64) NOT NULL, 
    metrics JSONB NOT NULL, 
    checkpoint_path TEXT, 
    export_dir TEXT, 
    published BOOLEAN NOT NULL, 
    job_id VARCHAR(64), 
    created_at TIMESTAMP WITH TIME ZONE DEFAULT now() NOT NULL, 
    PRIMARY KEY (id), 
    FOREIGN KEY(job_id) REFERENCES jobs (id) ON DELETE SET NULL
);

CREATE TABLE reports (
    id BIGSERIAL NOT NULL, 
    owner VARCHAR(128) NOT NULL, 
    kind VARCHAR(32) NOT NULL, 
    params JSONB NOT NULL, 
    notebook_path TEXT, 
    html_path TEXT, 
    job_id VARCHAR(64), 
    created_at TIMESTAMP WITH TIME ZONE DEFAULT now() NOT NULL, 
    PRIMARY KEY (id), 
    FOREIGN KEY(job_id) REFERENCES jobs (id) ON DELETE SET NULL
);

CREATE TABLE predictions (
    id BIGSERIAL NOT NULL, 
    owner VARCHAR(128) NOT NULL, 
    model_id BIGINT NOT NULL, 
    image_id BIGINT NOT NULL, 
    label VARCHAR(256) NOT NULL, 
    score FLOAT NOT NULL, 
    job_id VARCHAR(64), 
    created_at TIMESTAMP WITH TIME ZONE DEFAULT now() NOT NULL, 
    PRIMARY KEY (id), 
    FOREIGN KEY(image_id) REFERENCES images (id) ON DELETE CASCADE, 
    FOREIGN KEY(job_id) REFERENCES jobs (id) ON DELETE SET NULL, 
    FOREIGN KEY(model_id) REFERENCES models (id) ON DELETE CASCADE, 
    CONSTRAINT uq_predictions_model_image UNIQUE (model_id, image_id)
);

INSERT INTO alembic_version (version_num) VALUES ('0001') RETURNING alembic_version.version_num;

-- Running upgrade 0001 -> 0002

ALTER TABLE datasets ADD COLUMN label_counts JSONB DEFAULT '{}' NOT NULL;

UPDATE datasets SET label_counts = COALESCE((
            SELECT jsonb_object_agg(label, n) FROM (
                SELECT dataset_id, label, count(*) AS n FROM images GROUP BY dataset_id, label
            ) AS counts WHERE counts.dataset_id = datasets.id), '{}'::jsonb);

UPDATE alembic_version SET version_num='0002' WHERE alembic_version.version_num = '0001';

-- Running upgrade 0002 -> 0003

DROP INDEX ix_images_dataset_split_id;

DROP INDEX ix_images_dataset_sample_key;

ALTER TABLE images DROP COLUMN sample_key;

ALTER TABLE images ALTER COLUMN sha256 TYPE VARCHAR(64) COLLATE "C";

UPDATE alembic_version SET version_num='0003' WHERE alembic_version.version_num = '0002';

-- Running upgrade 0003 -> 0004

CREATE INDEX ix_images_source_image_id ON images (source_image_id) WHERE source_image_id IS NOT NULL;

CREATE INDEX ix_predictions_image_id ON predictions (image_id);

UPDATE alembic_version SET version_num='0004' WHERE alembic_version.version_num = '0003';

-- Running upgrade 0004 -> 0005

ALTER TABLE jobs ADD COLUMN parent_id VARCHAR(64);

ALTER TABLE jobs ADD COLUMN chunks INTEGER DEFAULT '0' NOT NULL;

ALTER TABLE jobs ADD COLUMN chunks_done INTEGER DEFAULT '0' NOT NULL;

ALTER TABLE jobs ADD COLUMN context JSONB;

ALTER TABLE jobs ADD CONSTRAINT fk_jobs_parent_id FOREIGN KEY(parent_id) REFERENCES jobs (id) ON DELETE CASCADE;

CREATE INDEX ix_jobs_parent_id ON jobs (parent_id);

UPDATE alembic_version SET version_num='0005' WHERE alembic_version.version_num = '0004';

-- Running upgrade 0005 -> 0006

CREATE TABLE shares (
    id BIGSERIAL NOT NULL, 
    kind VARCHAR(16) NOT NULL, 
    object_id BIGINT NOT NULL, 
    owner VARCHAR(128) NOT NULL, 
    grantee VARCHAR(128) NOT NULL, 
    created_at TIMESTAMP WITH TIME ZONE DEFAULT now() NOT NULL, 
    PRIMARY KEY (id), 
    CONSTRAINT ck_shares_kind CHECK (kind IN ('dataset', 'model')), 
    CONSTRAINT uq_shares_object_grantee UNIQUE (kind, object_id, grantee)
);

CREATE INDEX ix_shares_grantee ON shares (grantee, kind);

ALTER TABLE datasets ENABLE ROW LEVEL SECURITY;

ALTER TABLE datasets FORCE ROW LEVEL SECURITY;

CREATE POLICY datasets_owner ON datasets USING (owner IN (SELECT r.rolname FROM pg_roles r WHERE r.rolcanlogin AND pg_has_role(current_user, r.oid, 'MEMBER'))) WITH CHECK (owner IN (SELECT r.rolname FROM pg_roles r WHERE r.rolcanlogin AND pg_has_role(current_user, r.oid, 'MEMBER')));

ALTER TABLE images ENABLE ROW LEVEL SECURITY;

ALTER TABLE images FORCE ROW LEVEL SECURITY;

CREATE POLICY images_owner ON images USING (owner IN (SELECT r.rolname FROM pg_roles r WHERE r.rolcanlogin AND pg_has_role(current_user, r.oid, 'MEMBER'))) WITH CHECK (owner IN (SELECT r.rolname FROM pg_roles r WHERE r.rolcanlogin AND pg_has_role(current_user, r.oid, 'MEMBER')) AND (dataset_id IN (SELECT d.id FROM datasets d WHERE d.owner IN (SELECT r.rolname FROM pg_roles r WHERE r.rolcanlogin AND pg_has_role(current_user, r.oid, 'MEMBER')))));

ALTER TABLE jobs ENABLE ROW LEVEL SECURITY;

ALTER TABLE jobs FORCE ROW LEVEL SECURITY;

CREATE POLICY jobs_owner ON jobs USING (owner IN (SELECT r.rolname FROM pg_roles r WHERE r.rolcanlogin AND pg_has_role(current_user, r.oid, 'MEMBER'))) WITH CHECK (owner IN (SELECT r.rolname FROM pg_roles r WHERE r.rolcanlogin AND pg_has_role(current_user, r.oid, 'MEMBER')));

ALTER TABLE models ENABLE ROW LEVEL SECURITY;

ALTER TABLE models FORCE ROW LEVEL SECURITY;

CREATE POLICY models_owner ON models USING (owner IN (SELECT r.rolname FROM pg_roles r WHERE r.rolcanlogin AND pg_has_role(current_user, r.oid, 'MEMBER'))) WITH CHECK (owner IN (SELECT r.rolname FROM pg_roles r WHERE r.rolcanlogin AND pg_has_role(current_user, r.oid, 'MEMBER')));

ALTER TABLE predictions ENABLE ROW LEVEL SECURITY;

ALTER TABLE predictions FORCE ROW LEVEL SECURITY;

CREATE POLICY predictions_owner ON predictions USING (owner IN (SELECT r.rolname FROM pg_roles r WHERE r.rolcanlogin AND pg_has_role(current_user, r.oid, 'MEMBER'))) WITH CHECK (owner IN (SELECT r.rolname FROM pg_roles r WHERE r.rolcanlogin AND pg_has_role(current_user, r.oid, 'MEMBER')));

ALTER TABLE reports ENABLE ROW LEVEL SECURITY;

ALTER TABLE reports FORCE ROW LEVEL SECURITY;

CREATE POLICY reports_owner ON reports USING (owner IN (SELECT r.rolname FROM pg_roles r WHERE r.rolcanlogin AND pg_has_role(current_user, r.oid, 'MEMBER'))) WITH CHECK (owner IN (SELECT r.rolname FROM pg_roles r WHERE r.rolcanlogin AND pg_has_role(current_user, r.oid, 'MEMBER')));

ALTER TABLE shares ENABLE ROW LEVEL SECURITY;

ALTER TABLE shares FORCE ROW LEVEL SECURITY;

CREATE POLICY shares_owner ON shares USING (owner IN (SELECT r.rolname FROM pg_roles r WHERE r.rolcanlogin AND pg_has_role(current_user, r.oid, 'MEMBER'))) WITH CHECK (owner IN (SELECT r.rolname FROM pg_roles r WHERE r.rolcanlogin AND pg_has_role(current_user, r.oid, 'MEMBER')));

CREATE POLICY datasets_shared ON datasets FOR SELECT USING (id IN (SELECT s.object_id FROM shares s WHERE s.kind = 'dataset' AND s.owner = datasets.owner));

CREATE POLICY images_shared ON images FOR SELECT USING (dataset_id IN (SELECT d.id FROM datasets d));

CREATE POLICY models_shared ON models FOR SELECT USING (published OR id IN (SELECT s.object_id FROM shares s WHERE s.kind = 'model' AND s.owner = models.owner));

CREATE POLICY shares_grantee ON shares FOR SELECT USING (grantee IN (SELECT r.rolname FROM pg_roles r WHERE pg_has_role(current_user, r.oid, 'MEMBER')));

UPDATE alembic_version SET version_num='0006' WHERE alembic_version.version_num = '0005';

-- Running upgrade 0006 -> 0007

CREATE TABLE api_tokens (
    id VARCHAR(16) NOT NULL, 
    owner VARCHAR(128) NOT NULL, 
    name VARCHAR(128) NOT NULL, 
    secret_sha256 VARCHAR(64) NOT NULL, 
    scope VARCHAR(8) NOT NULL, 
    created_at TIMESTAMP WITH TIME ZONE DEFAULT now() NOT NULL, 
    expires_at TIMESTAMP WITH TIME ZONE NOT NULL, 
    revoked_at TIMESTAMP WITH TIME ZONE, 
    PRIMARY KEY (id), 
    CONSTRAINT ck_api_tokens_scope CHECK (scope IN ('read', 'write'))
);

CREATE INDEX ix_api_tokens_owner ON api_tokens (owner);

ALTER TABLE api_tokens ENABLE ROW LEVEL SECURITY;

ALTER TABLE api_tokens FORCE ROW LEVEL SECURITY;

CREATE POLICY api_tokens_owner ON api_tokens USING (owner IN (SELECT r.rolname FROM pg_roles r WHERE r.rolcanlogin AND pg_has_role(current_user, r.oid, 'MEMBER'))) WITH CHECK (owner IN (SELECT r.rolname FROM pg_roles r WHERE r.rolcanlogin AND pg_has_role(current_user, r.oid, 'MEMBER')));

UPDATE alembic_version SET version_num='0007' WHERE alembic_version.version_num = '0006';

-- Running upgrade 0007 -> 0008

CREATE TABLE model_usage (
    model_id BIGINT NOT NULL, 
    owner VARCHAR(128) NOT NULL, 
    channel VARCHAR(16) NOT NULL, 
    day DATE NOT NULL, 
    predictions BIGINT NOT NULL, 
    low_confidence BIGINT NOT NULL, 
    PRIMARY KEY (model_id, owner, channel, day), 
    CONSTRAINT ck_model_usage_channel CHECK (channel IN ('dashboard', 'batch', 'api')), 
    FOREIGN KEY(model_id) REFERENCES models (id) ON DELETE CASCADE
);

ALTER TABLE model_usage ENABLE ROW LEVEL SECURITY;

ALTER TABLE model_usage FORCE ROW LEVEL SECURITY;

CREATE POLICY model_usage_owner ON model_usage USING (owner IN (SELECT r.rolname FROM pg_roles r WHERE r.rolcanlogin AND pg_has_role(current_user, r.oid, 'MEMBER'))) WITH CHECK (owner IN (SELECT r.rolname FROM pg_roles r WHERE r.rolcanlogin AND pg_has_role(current_user, r.oid, 'MEMBER')) AND model_id IN (SELECT m.id FROM models m));

CREATE POLICY model_usage_model_owner ON model_usage FOR SELECT USING (model_id IN (SELECT m.id FROM models m WHERE m.owner IN (SELECT r.rolname FROM pg_roles r WHERE r.rolcanlogin AND pg_has_role(current_user, r.oid, 'MEMBER'))));

UPDATE alembic_version SET version_num='0008' WHERE alembic_version.version_num = '0007';

COMMIT;

