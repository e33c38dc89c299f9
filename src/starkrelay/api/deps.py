"""The process's collaborators (``Services``) and the FastAPI ``Annotated`` aliases for them.

``Services`` is built once per process by ``app.open_services`` and stored on
``app.state.services``; only the edge knows it (the app, ``wiring``, the routes through the
aliases below, the commands). Features take what they need as plain arguments. In a route,
ask for what you need::

    async def route(store: StoreDep, bank: BankDep, settings: SettingsDep) -> ...

Every dependency here is ``async def`` and only reads ``app.state``: FastAPI runs it on the
event loop, with no hop to a worker thread per request.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Literal

from fastapi import Depends, Request

from starkrelay.bank.gateway import BankGateway
from starkrelay.bank.public_key import StarkPublicKey
from starkrelay.core.settings import Settings
from starkrelay.core.store import Store
from starkrelay.core.supervision import Supervisor

Role = Literal["serve", "api", "worker"]
"""What a process runs: ``serve`` (routes + background), ``api`` (routes), ``worker``
(background). Part of its stable names in Redis (the forward consumer's)."""


@dataclass
class Services:
    """The process-wide collaborators: configuration, the store (Redis and key names), Stark
    Bank, and the role of the process they serve."""

    settings: Settings
    store: Store
    bank: BankGateway
    public_key: StarkPublicKey
    role: Role = "serve"


def _services(request: Request) -> Services:
    services: Services = request.app.state.services
    return services


async def get_services(request: Request) -> Services:
    """The ``Services`` the app's lifespan opened."""
    return _services(request)


async def get_settings(request: Request) -> Settings:
    return _services(request).settings


async def get_store(request: Request) -> Store:
    return _services(request).store


async def get_bank(request: Request) -> BankGateway:
    return _services(request).bank


async def get_public_key(request: Request) -> StarkPublicKey:
    return _services(request).public_key


async def get_supervisor(request: Request) -> Supervisor:
    """The process's ``Supervisor`` (parts, heartbeats, fatal state)."""
    supervisor: Supervisor = request.app.state.supervisor
    return supervisor


ServicesDep = Annotated[Services, Depends(get_services)]
SettingsDep = Annotated[Settings, Depends(get_settings)]
StoreDep = Annotated[Store, Depends(get_store)]
BankDep = Annotated[BankGateway, Depends(get_bank)]
PublicKeyDep = Annotated[StarkPublicKey, Depends(get_public_key)]
SupervisorDep = Annotated[Supervisor, Depends(get_supervisor)]
