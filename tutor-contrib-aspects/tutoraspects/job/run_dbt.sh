#!/bin/sh
# Run dbt on the Aspects reporting models, with the arguments given, or with `changed` to build
# only the models changed since the last complete run. On the project bundled in the aspects
# job image, or on the one at DBT_REPOSITORY (branch DBT_BRANCH, folder DBT_REPOSITORY_PATH)
# when that is set. The connection comes from the bundled profiles.yml.
set -e
here=$(cd "$(dirname "$0")" && pwd)
project="$here/dbt"
if [ -n "${DBT_REPOSITORY:-}" ]; then
    checkout=$(mktemp -d)
    trap 'rm -rf "$checkout"' EXIT
    echo "Fetching the dbt project from $DBT_REPOSITORY (branch ${DBT_BRANCH:-main})"
    git clone --quiet --depth 1 --branch "${DBT_BRANCH:-main}" "$DBT_REPOSITORY" "$checkout"
    project="$checkout/${DBT_REPOSITORY_PATH:-}"
fi
export DBT_PROJECT_DIR="$project" DBT_PROFILES_DIR="$here/dbt"
if [ -f "$project/packages.yml" ] || [ -f "$project/dependencies.yml" ]; then
    dbt --no-use-colors deps
fi
if [ "${1:-}" != "changed" ]; then
    exec dbt --no-use-colors "$@"
fi
# "changed": build the models changed since the last complete run (every model the first
# time), then remember this run. New statements reach unchanged models through scheduled runs.
# A changed model is rebuilt from scratch with the models built on it: an incremental run would
# keep the rows computed by the old SQL and drop the columns the new one adds.
state=$(mktemp -d)
python3 "$here/dbt_state.py" load "$state"
if [ -f "$state/manifest.json" ]; then
    echo "Rebuilding from scratch the models changed since the last complete run, and theirs."
    dbt --no-use-colors run --select state:modified+ --state "$state" --full-refresh
else
    dbt --no-use-colors run
fi
python3 "$here/dbt_state.py" save "${DBT_TARGET_PATH:-$project/target}/manifest.json"
