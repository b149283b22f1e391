from django.apps import AppConfig


class FeedbackConfig(AppConfig):
    name = "feedback"
    verbose_name = "Feedback"

    def ready(self):
        from classifier.result_page import register_panel
        from feedback.result_panel import feedback_panel

        register_panel("feedback", feedback_panel)
