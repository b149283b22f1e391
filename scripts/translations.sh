#!/usr/bin/env bash
# Update the translation catalogues from the code and templates, then compile them.
#   scripts/translations.sh
# Strings from an app's code and its templates (APP/templates/APP/) land in APP/locale/;
# strings from the project templates (templates/) and config/ land in locale/.
# Translate the new entries (msgstr) in the .po files, run this again, commit .po and .mo.
# Needs GNU gettext (msgfmt, xgettext): apt-get install gettext.
set -euo pipefail
cd "$(dirname "$0")/.."
export DEBUG=1 DJANGO_SETTINGS_MODULE=config.settings
python=.venv/bin/python
for app_config in */apps.py; do mkdir -p "$(dirname "$app_config")/locale"; done
ignore=(--ignore=.venv --ignore=staticfiles --ignore=media --ignore=.run --ignore=loadtests
        --ignore=benchmarks --ignore=docs --ignore=scripts --ignore="*/tests/*" --ignore=conftest.py)
languages=$($python -c 'import django; django.setup(); from django.conf import settings
print(" ".join(code for code, _ in settings.LANGUAGES if code != settings.LANGUAGE_CODE))')
for language in $languages; do
  $python manage.py makemessages --locale "$language" --add-location file --no-obsolete \
    --verbosity 0 "${ignore[@]}"
done
$python manage.py compilemessages --verbosity 0 "${ignore[@]}"
