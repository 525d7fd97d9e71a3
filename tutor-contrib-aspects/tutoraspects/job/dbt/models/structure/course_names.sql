{#-
  One row per course the CMS has sent: its name, run and organisation, from the latest dump of
  its overview (event sink course_overviews). A course dumped again (each publish) shows its
  latest name; a dump inserted twice counts once.

  A table rebuilt on each run: the names change when a course is published, not when
  statements arrive, and there is one row per course.
-#}
{{ config(materialized="table", engine="MergeTree()", order_by="(org, course_key)") }}

with
    overviews as (
        select
            org,
            course_key,
            display_name,
            self_paced,
            dump_id,
            time_last_dumped,
            {{ dump_order() }} as dump_order
        from {{ source("event_sink", "course_overviews") }}
        where course_key != ''
    ),

    latest as (
        select
            org,
            course_key,
            argMax(display_name, dump_order) as latest_name,
            argMax(self_paced, dump_order) as latest_self_paced,
            argMax(dump_id, dump_order) as latest_dump_id,
            argMax(time_last_dumped, dump_order) as latest_time_last_dumped
        from overviews
        group by org, course_key
    )

select
    org,
    course_key,
    -- The key where the course has no name, so that a chart never shows an empty label.
    if(latest_name = '', course_key, latest_name) as course_name,
    {{ course_run_of("course_key") }} as course_run,
    latest_self_paced as self_paced,
    latest_dump_id as dump_id,
    latest_time_last_dumped as time_last_dumped
from latest
