"""Locust load test of the image classifier: people uploading photos, and people re-uploading one.

    .venv/bin/python -m locust -f loadtests/locustfile.py --host http://127.0.0.1:8000

Two kinds of user, each logging in once (`on_start`, POST /api/auth/token/):

* `PhotoUploader` uploads a photo nobody sent before (a random crop of a scikit-image /
  scikit-learn sample photo, re-encoded per request, so the result cache never answers
  and every upload costs a forward pass), and now and then gives feedback on one of its
  results, looks at its history or loads the home page.
* `RepeatUploader` uploads the same bytes again and again: the result-cache path.

Accounts `loadtest-000@example.com` … must exist first (the register endpoint is
throttled): `python -m benchmarks.load.users create-users --count 60`. The server must
allow that many logins a minute (THROTTLE_LOGIN / THROTTLE_LOGIN_ACCOUNT);
`loadtests/run_scenarios.py` starts it that way.

Options (command line or environment): --image-pool-size / LOADTEST_IMAGE_POOL_SIZE,
--uploader-weight / LOADTEST_UPLOADER_WEIGHT, --repeat-uploader-weight /
LOADTEST_REPEAT_UPLOADER_WEIGHT (0 leaves that user class out), --accounts /
LOADTEST_ACCOUNTS, and --measure-seconds / LOADTEST_MEASURE_SECONDS: when set, the
statistics are reset once every user has logged in and the run stops that many seconds
later, so the expensive password checks of the log-ins stay out of the figures.
"""

from __future__ import annotations

import itertools
import logging
import random
from collections import deque

import gevent
from locust import HttpUser, events, task
from locust.exception import StopUser

from benchmarks.load.photos import PhotoPool
from benchmarks.load.users import account_email, account_password
from loadtests import MEASUREMENT_STARTED

logger = logging.getLogger("loadtest")

UPLOAD_PATH = "/api/predictions/"
DEFAULT_THINK_SECONDS = (0.5, 2.0)
DEFAULT_ACCOUNTS = 60
DEFAULT_IMAGE_POOL_SIZE = 48
SOME_IMAGENET_LABELS = ("tabby", "Egyptian cat", "espresso", "daisy", "space shuttle", "pagoda")

photos: PhotoPool | None = None
_account_numbers = itertools.count()
_users_ready = 0
_measuring = False


@events.init_command_line_parser.add_listener
def add_arguments(parser):
    group = parser.add_argument_group("image classifier load test")
    group.add_argument(
        "--image-pool-size",
        type=int,
        default=DEFAULT_IMAGE_POOL_SIZE,
        env_var="LOADTEST_IMAGE_POOL_SIZE",
        help="Sample-photo crops prepared before the run; each upload re-crops and re-encodes one.",
    )
    group.add_argument("--uploader-weight", type=int, default=9, env_var="LOADTEST_UPLOADER_WEIGHT")
    group.add_argument(
        "--repeat-uploader-weight",
        type=int,
        default=1,
        env_var="LOADTEST_REPEAT_UPLOADER_WEIGHT",
        help="Weight of users who re-upload one photo (cache hits); 0 leaves them out.",
    )
    group.add_argument(
        "--accounts",
        type=int,
        default=DEFAULT_ACCOUNTS,
        env_var="LOADTEST_ACCOUNTS",
        help="How many loadtest-NNN@example.com accounts exist; users take them in turn.",
    )
    group.add_argument(
        "--think-seconds",
        type=float,
        nargs=2,
        default=list(DEFAULT_THINK_SECONDS),
        metavar=("MIN", "MAX"),
        help="Pause between a user's tasks, uniform in [MIN, MAX]; 0 0 sends as fast as "
        "answers come back (saturation).",
    )
    group.add_argument(
        "--measure-seconds",
        type=float,
        default=0,
        env_var="LOADTEST_MEASURE_SECONDS",
        help="Reset statistics when every user has logged in, stop this many seconds later.",
    )


@events.init.add_listener
def prepare(environment, **_kwargs):
    """Build the photo pool and apply the user-class weights before any user starts."""
    global photos
    options = environment.parsed_options
    if options is None:  # used as a library without command-line options
        photos = PhotoPool.build(DEFAULT_IMAGE_POOL_SIZE)
        return
    photos = PhotoPool.build(options.image_pool_size, seed=random.randrange(2**32))
    PhotoUploader.weight = options.uploader_weight
    RepeatUploader.weight = options.repeat_uploader_weight
    environment.user_classes = [
        user_class for user_class in environment.user_classes if user_class.weight > 0
    ]


def _user_ready(environment) -> None:
    """Count a user that finished logging in; when all have, start the measured window."""
    global _users_ready, _measuring
    _users_ready += 1
    options = environment.parsed_options
    seconds = getattr(options, "measure_seconds", 0) if options else 0
    runner = environment.runner
    if not seconds or _measuring or runner is None or _users_ready < runner.target_user_count:
        return
    _measuring = True
    environment.stats.reset_all()
    logger.warning("%s; measuring for %g s", MEASUREMENT_STARTED, seconds)
    gevent.spawn_later(seconds, runner.quit)


class ApiUser(HttpUser):
    """Logs in with one of the prepared accounts and sends its JWT with every request."""

    abstract = True

    def wait_time(self) -> float:
        options = self.environment.parsed_options
        low, high = getattr(options, "think_seconds", None) or DEFAULT_THINK_SECONDS
        return random.uniform(low, high)

    def on_start(self):
        try:
            self.log_in()
            self.get_ready()
        finally:
            _user_ready(self.environment)

    def get_ready(self):
        """What this kind of user does once, after logging in and before its tasks."""

    def log_in(self):
        options = self.environment.parsed_options
        accounts = getattr(options, "accounts", DEFAULT_ACCOUNTS)
        email = account_email(next(_account_numbers) % accounts)
        with self.client.post(
            "/api/auth/token/",
            json={"email": email, "password": account_password()},
            name="POST /api/auth/token/",
            catch_response=True,
        ) as response:
            if response.status_code != 200:
                response.failure(f"login as {email} failed: HTTP {response.status_code}")
                raise StopUser()
            self.client.headers["Authorization"] = f"Bearer {response.json()['access']}"

    def upload(self, content: bytes, *, name: str, expect_cached: bool | None = None):
        """POST a photo; a success is a 201 with the finished prediction. Returns its JSON."""
        with self.client.post(
            UPLOAD_PATH,
            files={"image": ("photo.jpg", content, "image/jpeg")},
            name=name,
            catch_response=True,
        ) as response:
            if response.status_code == 202:
                response.failure("no answer within PREDICT_WAIT_SECONDS (202)")
                return None
            if response.status_code != 201:
                response.failure(f"HTTP {response.status_code}")
                return None
            body = response.json()
            if expect_cached is not None and body["cached"] != expect_cached:
                response.failure(f"expected cached={expect_cached}, got {body['cached']}")
                return None
            response.success()
            return body


class PhotoUploader(ApiUser):
    """Someone classifying their own photos, checking results and sometimes correcting them."""

    weight = 9

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.recent_predictions: deque[str] = deque(maxlen=20)

    @task(10)
    def upload_new_photo(self):
        body = self.upload(photos.fresh_jpeg(), name="POST /api/predictions/ (new photo)")
        if body is not None:
            self.recent_predictions.append(body["id"])

    @task(3)
    def give_feedback(self):
        if not self.recent_predictions:
            return
        verdict = {"prediction": random.choice(self.recent_predictions)}
        verdict["is_correct"] = random.random() < 0.5
        if not verdict["is_correct"]:
            verdict["correct_label"] = random.choice(SOME_IMAGENET_LABELS)
        self.client.post("/api/feedback/", json=verdict, name="POST /api/feedback/")

    @task(2)
    def view_history(self):
        self.client.get(UPLOAD_PATH, name="GET /api/predictions/ (history)")

    @task(1)
    def view_home_page(self):
        self.client.get("/", name="GET / (home page)")


class RepeatUploader(ApiUser):
    """Someone sending the same photo again: the answer must come from the result cache."""

    weight = 1

    def get_ready(self):
        self.photo = photos.fresh_jpeg()
        # The first upload needs the model; every later one is a cache hit.
        self.upload(self.photo, name="POST /api/predictions/ (first of a repeated photo)")

    @task
    def upload_same_photo(self):
        self.upload(
            self.photo, name="POST /api/predictions/ (same photo again)", expect_cached=True
        )
