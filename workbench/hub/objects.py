"""Each person's own credentials for the object store: read and write objects under the store's
prefix, never list the bucket or delete (an IAM user and inline policy, through the IAM API that
SeaweedFS serves beside S3, as AWS's does). Keys come only from catalog rows the person can see;
docs/security.md says how strong that is."""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import urlparse

import boto3

from workbench.hub.settings import HubSettings

POLICY_NAME = "workbench-objects"
REGION = "us-east-1"


def object_store_identity(hub: HubSettings, name: str) -> dict[str, str]:
    """The variables boto3 reads in ``name``'s server: a new key each start, the old ones gone.
    Empty when the catalog keeps its blobs on a disk (one machine, no object store)."""
    settings = hub.shared
    if not settings.storage_url:
        return {}
    iam = boto3.client("iam", endpoint_url=settings.s3_endpoint_url or None, region_name=REGION)
    user = f"workbench-{name}"
    if user not in {entry["UserName"] for entry in iam.list_users()["Users"]}:
        iam.create_user(UserName=user)
    for key in iam.list_access_keys(UserName=user)["AccessKeyMetadata"]:
        iam.delete_access_key(UserName=user, AccessKeyId=key["AccessKeyId"])
    iam.put_user_policy(
        UserName=user, PolicyName=POLICY_NAME, PolicyDocument=json.dumps(_policy(settings.storage_url))
    )
    key = iam.create_access_key(UserName=user)["AccessKey"]
    return {
        "AWS_ACCESS_KEY_ID": key["AccessKeyId"],
        "AWS_SECRET_ACCESS_KEY": key["SecretAccessKey"],
        "AWS_DEFAULT_REGION": REGION,
    }


def remove_identity(hub: HubSettings, name: str) -> None:
    """Policy, keys, then the user: SeaweedFS keeps a deleted user's policy for the next one of
    that name otherwise."""
    settings = hub.shared
    iam = boto3.client("iam", endpoint_url=settings.s3_endpoint_url or None, region_name=REGION)
    user = f"workbench-{name}"
    if user not in {entry["UserName"] for entry in iam.list_users()["Users"]}:
        return
    iam.delete_user_policy(UserName=user, PolicyName=POLICY_NAME)
    for key in iam.list_access_keys(UserName=user)["AccessKeyMetadata"]:
        iam.delete_access_key(UserName=user, AccessKeyId=key["AccessKeyId"])
    iam.delete_user(UserName=user)


def _policy(storage_url: str) -> dict[str, Any]:
    where = urlparse(storage_url)
    prefix = where.path.strip("/")
    objects = f"arn:aws:s3:::{where.netloc}/{prefix + '/' if prefix else ''}*"
    return {
        "Version": "2012-10-17",
        "Statement": [{"Effect": "Allow", "Action": ["s3:GetObject", "s3:PutObject"], "Resource": [objects]}],
    }
