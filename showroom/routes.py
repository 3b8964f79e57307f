"""All staff page routers, in the order the app mounts them."""

from fastapi import APIRouter

from showroom.admin_routes import router as admin_router
from showroom.auth_routes import router as auth_router
from showroom.customer_routes import router as customer_router
from showroom.lookup_routes import router as lookup_router

routers: list[APIRouter] = [
    auth_router,
    lookup_router,
    customer_router,
    admin_router,
]
