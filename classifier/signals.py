"""However a prediction is deleted (by its owner, with its account, from the admin), its
stored image is removed once no other prediction references the same bytes."""

from django.db.models.signals import post_delete
from django.dispatch import receiver

from classifier import services
from classifier.models import Prediction


@receiver(post_delete, sender=Prediction, dispatch_uid="classifier.forget_unused_image")
def forget_unused_image(sender, instance: Prediction, **kwargs) -> None:
    if instance.image:
        services.forget_image_when_unused(name=instance.image.name)
