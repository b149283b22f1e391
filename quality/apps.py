from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class QualityConfig(AppConfig):
    default_auto_field = "django.db.models.BigAutoField"
    name = "quality"
    verbose_name = _("Model quality")

    def ready(self):
        from classifier.selectors import let_staff_see_answered_images
        from quality.selectors import DASHBOARD_PERMISSION, REVIEW_PERMISSION

        # Reviewers judge the photos in their queue; the dashboard shows example photos.
        let_staff_see_answered_images(permission=REVIEW_PERMISSION)
        let_staff_see_answered_images(permission=DASHBOARD_PERMISSION)
