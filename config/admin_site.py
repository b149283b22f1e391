"""The operators' admin: Django's, with the product's own pages in its index.

The index lists, beside the models, the pages operators use that are not model lists (the
job queue's dashboard, the quality dashboard, the review queue), inside the section of the
app they belong to and only for those whose permission opens them (accounts.permissions).
django-rq's own admin entry is off (`RQ_SHOW_ADMIN_LINK`): it showed a raw "DJANGO_RQ"
section and led to django-rq's pages without our permission check.
"""

from __future__ import annotations

from dataclasses import dataclass

from django.apps import apps
from django.contrib import admin
from django.contrib.admin.apps import AdminConfig
from django.urls import reverse
from django.utils.functional import Promise
from django.utils.translation import gettext_lazy as _


@dataclass(frozen=True)
class PageLink:
    app_label: str
    name: str | Promise
    url_name: str
    permission: str


PAGE_LINKS = (
    PageLink("classifier", _("Job queue"), "django_rq:home", "classifier.view_queue"),
    PageLink("quality", _("Quality dashboard"), "quality:dashboard", "quality.view_dashboard"),
    PageLink("quality", _("Review queue"), "quality:review-queue", "quality.review_predictions"),
)


class ProductAdminSite(admin.AdminSite):
    # The index names every section and each list needs the page's width (at 1280 px the
    # predictions and feedback lists did not fit beside the sidebar); breadcrumbs lead back.
    enable_nav_sidebar = False

    def get_app_list(self, request, app_label=None):
        from accounts.permissions import staff_may  # not while the apps load (see below)

        app_list = super().get_app_list(request, app_label)
        by_label = {app["app_label"]: app for app in app_list}
        for link in PAGE_LINKS:
            if app_label not in (None, link.app_label):
                continue
            if not staff_may(request.user, link.permission):
                continue
            app = by_label.get(link.app_label)
            url = reverse(link.url_name)
            if app is None:  # none of the app's models is open to this operator
                app = {
                    "name": apps.get_app_config(link.app_label).verbose_name,
                    "app_label": link.app_label,
                    "app_url": url,
                    "has_module_perms": True,
                    "models": [],
                }
                by_label[link.app_label] = app
                app_list.append(app)
            app["models"].append(
                {
                    "name": link.name,
                    "object_name": link.url_name.replace(":", "-").replace("_", "-"),
                    "perms": {"view": True},
                    "admin_url": url,
                    "add_url": None,
                    "view_only": True,
                }
            )
        app_list.sort(key=lambda app: str(app["name"]).casefold())
        return app_list


class ProductAdminConfig(AdminConfig):
    """Django's admin app with this site. Django imports this module while the apps load,
    so it imports nothing of ours at the top."""

    default_site = "config.admin_site.ProductAdminSite"
