"""All staff page routers, in the order the app mounts them."""

from fastapi import APIRouter

from segmentation.routes import router as segments_router
from showroom.admin_routes import router as admin_router
from showroom.auth_routes import router as auth_router
from showroom.customer_routes import router as customer_router
from showroom.deliveries_routes import router as deliveries_router
from showroom.funnel_routes import router as funnel_router
from showroom.leads_routes import router as leads_router
from showroom.lookup_routes import router as lookup_router
from showroom.tablet_routes import router as tablet_router
from showroom.today_routes import router as today_router

routers: list[APIRouter] = [
    auth_router,
    lookup_router,
    customer_router,
    tablet_router,
    admin_router,
    today_router,
    leads_router,
    deliveries_router,
    funnel_router,
    segments_router,
]
