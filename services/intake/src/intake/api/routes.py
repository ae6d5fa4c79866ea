"""Intake's HTTP surface: catalogue, submissions, citizen follow-up, identity resolution."""

from __future__ import annotations

from fastapi import APIRouter

from intake.api.catalogue import build_catalogue_router
from intake.api.context import IntakeContext
from intake.api.dossiers import build_dossier_router
from intake.api.follow_up import build_follow_up_router
from intake.api.identities import build_identity_router


def build_routers(ctx: IntakeContext) -> list[APIRouter]:
    return [
        build_catalogue_router(ctx.catalogue),
        build_dossier_router(ctx),
        build_follow_up_router(ctx),
        build_identity_router(ctx),
    ]
