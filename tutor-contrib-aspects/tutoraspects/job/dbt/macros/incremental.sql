{#-
  How the incremental models find what to recompute.

  Every row of xapi_events_parsed carries loaded_at, the time it arrived. An incremental model
  keeps, on each of its rows, last_loaded_at: the latest loaded_at of the statements the row was
  computed from. On a run, the groups (a course, a problem, a day, ...) that rows arrived for
  since the previous run are recomputed from all their statements, and replace the old rows
  (delete+insert on the group key). Late statements, replays and back-filled history are
  therefore picked up whatever their emission time; a run without new statements changes
  nothing.
-#}

{% macro arrived_since_last_run() -%}
    {#- A condition on xapi_events_parsed rows: always true on a full build; on an incremental
        run, the row arrived after the previous run, less incremental_lookback_seconds. -#}
    {%- if is_incremental() -%}
        loaded_at > (
            select max(last_loaded_at) from {{ this }}
        ) - toIntervalSecond({{ var("incremental_lookback_seconds") | int }})
    {%- else -%}
        true
    {%- endif -%}
{%- endmacro %}


{% macro touched(group=[]) -%}
    {#- The groups that statements arrived for since the previous run, each with the latest
        arrival (last_loaded_at): a course (org, course_key) and the columns of `group`, each
        "expression as name" or a column, over the course statements where the condition of
        the call block holds:
            {% call touched(["block_id as problem_id"]) %} block_type = 'problem' {% endcall %}
    -#}
    select
        org,
        course_key,
        {%- for column in group %}
        {{ column }},
        {%- endfor %}
        max(loaded_at) as last_loaded_at
    from {{ ref("xapi_events_parsed") }}
    where ({{ caller() if caller is defined else "true" }})
        and course_key != ''
        and {{ arrived_since_last_run() }}
    group by org, course_key
    {%- for column in group %}, {{ column.split(" as ")[-1] }}{% endfor %}
{%- endmacro %}
