{#-
  Instance-wide ingestion health per hour of emission: how many statements, from how many
  learners, and how late they reached the reporting tables.

  The arrival delay of a statement runs from its timestamp (when the learner acted) to its
  arrival: the statement's stored time, which the LRS sets when it receives it. Ralph stores the
  timestamp itself as the emission time, so a delay measured to the emission time would always
  be zero. A statement without a stored time (inserted into the raw table by other means)
  arrives when it first reached xapi_events_parsed (loaded_at of its first copy); statements
  already in the raw table when xapi_events_parsed was first built arrive at that build time,
  so their delay says nothing about the pipeline. Daily figures are the sums of the hours
  (each statement belongs to one hour).
-#}
{{
    config(
        materialized="incremental",
        incremental_strategy="delete+insert",
        unique_key=["emission_hour"],
        engine="MergeTree()",
        order_by="(emission_hour)",
    )
}}

with
    touched_hours as (
        select toStartOfHour(emission_time) as emission_hour, max(loaded_at) as last_loaded_at
        from {{ ref("xapi_events_parsed") }}
        where {{ arrived_since_last_run() }}
        group by emission_hour
    ),

    -- One row per statement (aliases differ from the columns: ClickHouse would otherwise read
    -- the aggregates in the WHERE clause).
    statements as (
        select
            event_id,
            min(emission_time) as emitted_at,
            -- without a parsable timestamp, the emission time stands in for it
            coalesce(min(statement_time), emitted_at) as stated_at,
            -- the LRS's stored time, else the first arrival here
            coalesce(min(stored_time), min(loaded_at)) as arrived_at,
            any(actor_id) as learner,
            any(course_key) as course
        from {{ ref("xapi_events_parsed") }}
        where toStartOfHour(emission_time) in (select emission_hour from touched_hours)
        group by event_id
    ),

    hourly as (
        select
            toStartOfHour(emitted_at) as emission_hour,
            count() as statements,
            uniqExactIf(learner, learner != '') as learners,
            countIf(course = '') as statements_without_course,
            avg(
                (toUnixTimestamp64Micro(arrived_at) - toUnixTimestamp64Micro(stated_at)) / 1e6
            ) as avg_arrival_delay_seconds,
            max(
                (toUnixTimestamp64Micro(arrived_at) - toUnixTimestamp64Micro(stated_at)) / 1e6
            ) as max_arrival_delay_seconds
        from statements
        group by emission_hour
    )

select hourly.*, touched_hours.last_loaded_at as last_loaded_at
from hourly
inner join touched_hours using (emission_hour)
