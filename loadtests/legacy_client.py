"""What the older system's clients send, written once for the legacy locustfile and tests.

The old Streamlit UI and locustfile log in with OAuth2's password form, its optional
fields present and empty, and these headers.
"""

OLD_LOGIN_HEADERS = {
    "accept": "application/json",
    "Content-Type": "application/x-www-form-urlencoded",
}


def old_login_form(username: str, password: str) -> dict:
    return {
        "grant_type": "",
        "username": username,
        "password": password,
        "scope": "",
        "client_id": "",
        "client_secret": "",
    }
