{#- Reading the event sink tables, where every publish of a course is dumped again whole. -#}

{% macro dump_order() -%}
    {#- Orders a course's dumps, the latest last: by the time the CMS dumped it, then by dump
        id, so that two dumps at the same instant still give one latest. Copies of a dump
        share both. -#}
    (parseDateTime64BestEffortOrZero(time_last_dumped, 6, 'UTC'), dump_id)
{%- endmacro %}


{% macro course_run_of(course_key) -%}
    {#- RUN of course-v1:ORG+COURSE+RUN (or of a CCX, ccx-v1:ORG+COURSE+RUN+ccx@N). -#}
    extract({{ course_key }}, '^(?:course|ccx)-v1:[^+]+[+][^+]+[+]([^+]+)')
{%- endmacro %}
