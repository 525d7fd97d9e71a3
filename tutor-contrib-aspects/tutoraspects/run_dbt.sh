#!/bin/sh
# Run dbt on the Aspects reporting models, with the arguments given: on the project bundled in
# the aspects job image, or on the one at DBT_REPOSITORY (branch DBT_BRANCH, folder
# DBT_REPOSITORY_PATH) when that is set. The connection comes from the bundled profiles.yml.
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
dbt --no-use-colors "$@"
