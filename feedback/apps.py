from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class FeedbackConfig(AppConfig):
    name = "feedback"
    verbose_name = _("Feedback")

    def ready(self):
        from classifier.result_page import register_panel
        from feedback.result_panel import feedback_panel

        register_panel("feedback", feedback_panel)
