"""The control bus's store schema, as data (SPINE2.md, "Store schema").

Attribute names are the keys of API.md, so an entity pulled from the store is
already most of the way to its REST shape.  Only what the store must know is
declared: identities, refs, card-many and the indexes that lookups by value
need (`:db/index`).  Everything else defaults to a plain card-one attribute.

Entities:
- app: `:application/name` identity; `:application/current` -> its current version.
- version: `:version/key` "name@hash" identity; the hash is `:application/version`.
  Versions are never deleted: executions stay pinned to them.
- job: `:job/key` "app/job" identity; `:job/steps` holds the validated step maps
  as one EDN vector value (a job is replaced whole, never edited step by step).
- execution: its entity id is `:execution/id`; step executions are components.
- agent: `:agent/instance-id` identity.  Heartbeat stats are never transacted.
- user and token: `:token/hash` is the sha256 of the token, never the token.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from jobstreamer.common import edn
from jobstreamer.common.edn import Keyword

SCHEMA: Mapping[Keyword, Mapping[Keyword, Any]] = edn.loads(
    """
{:application/name        {:db/unique :db.unique/identity}
 :application/current     {:db/valueType :db.type/ref}

 :version/key             {:db/unique :db.unique/identity}
 :version/application     {:db/valueType :db.type/ref}
 :application/version     {:db/index true}
 :version/tasks           {:db/cardinality :db.cardinality/many}

 :job/key                 {:db/unique :db.unique/identity}
 :job/application         {:db/valueType :db.type/ref}

 :execution/job           {:db/valueType :db.type/ref :db/index true}
 :execution/batch-status  {:db/index true}
 :execution/agent         {:db/valueType :db.type/ref}
 :execution/step-executions {:db/valueType :db.type/ref
                             :db/cardinality :db.cardinality/many
                             :db/isComponent true}

 :agent/instance-id       {:db/unique :db.unique/identity}

 :user/id                 {:db/unique :db.unique/identity}
 :token/hash              {:db/unique :db.unique/identity}
 :token/user              {:db/valueType :db.type/ref}}
"""
)
