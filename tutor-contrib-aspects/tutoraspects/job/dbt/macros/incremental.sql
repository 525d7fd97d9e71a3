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
