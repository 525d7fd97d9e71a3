{#-
  One row per statement, with the fields the reporting models use parsed out of the JSON once.

  A materialized view: ClickHouse runs this query on every block inserted into the raw table,
  so late statements and replays arrive here as they are inserted, without waiting for dbt.
  When the model is first built, the statements already in the raw table are copied in.

  The same statement inserted twice gives two rows with the same sorting key, which the
  ReplacingMergeTree collapses when it merges parts; until then both are there, so every model
  that reads this one counts each event_id once.
-#}
{{
    config(
        materialized="materialized_view",
        engine="ReplacingMergeTree(dedup_version)",
        order_by="(org, course_key, verb_id, emission_time, event_id)",
        partition_by="toYYYYMM(emission_time)",
        indexes=[
            {
                "name": "loaded_at_minmax",
                "definition": "loaded_at TYPE minmax GRANULARITY 1",
            }
        ],
    )
}}

select
    event_id,
    emission_time,
    parseDateTime64BestEffortOrNull(
        JSONExtractString(event, 'timestamp'), 6, 'UTC'
    ) as statement_time,
    now64(6, 'UTC') as loaded_at,
    -- Larger for earlier arrivals, so that merges keep the first copy of a replayed statement
    -- (and with it the time it first arrived). The constant is 2100-01-01 in microseconds.
    toUInt64(4102444800000000 - toUnixTimestamp64Micro(loaded_at)) as dedup_version,

    parseDateTime64BestEffortOrNull(
        JSONExtractString(event, 'stored'), 6, 'UTC'
    ) as stored_time,

    JSONExtractString(event, 'actor', 'account', 'name') as actor_id,
    toLowCardinality(JSONExtractString(event, 'verb', 'id')) as verb_id,
    JSONExtractString(event, 'object', 'id') as object_id,
    toLowCardinality(JSONExtractString(event, 'object', 'definition', 'type')) as object_type,
    -- A custom course run (CCX, ccx-v1:ORG+COURSE+RUN+ccx@N) counts towards its master
    -- course: course_key and block_id are the master course's, ccx_course_key names the CCX
    -- ('' for statements of the master course itself). context_activity_ids and
    -- master_object_id are inline aliases, not columns: the ids of the context activities,
    -- parents first, then groupings (a question of a multi-question problem has its problem
    -- as parent and the course as grouping); the object id with CCX keys made the master's.
    toLowCardinality(
        arrayFirst(
            key -> key != '',
            arrayMap(
                iri -> {{ ccx_key_of("iri") }},
                arrayPushFront(
                    arrayConcat(
                        arrayMap(
                            activity -> JSONExtractString(activity, 'id'),
                            JSONExtractArrayRaw(event, 'context', 'contextActivities', 'parent')
                        ),
                        arrayMap(
                            activity -> JSONExtractString(activity, 'id'),
                            JSONExtractArrayRaw(event, 'context', 'contextActivities', 'grouping')
                        )
                    ) as context_activity_ids,
                    object_id
                )
            )
        )
    ) as ccx_course_key,

    -- The course: in the object when the statement is about the course itself (enrolment,
    -- grade), else in the context activities, else in the key of the object's block.
    toLowCardinality(
        coalesce(
            nullIf(
                extract(
                    {{ master_ids("object_id") }} as master_object_id, {{ course_key_pattern() }}
                ),
                ''
            ),
            nullIf(
                arrayFirst(
                    key -> key != '',
                    arrayMap(
                        iri -> extract({{ master_ids("iri") }}, {{ course_key_pattern() }}),
                        context_activity_ids
                    )
                ),
                ''
            ),
            nullIf(
                concat(
                    'course-v1:',
                    extract(
                        master_object_id, 'block-v1:([^/?#+]+[+][^/?#+]+[+][^/?#+]+)[+]type@'
                    )
                ),
                'course-v1:'
            ),
            ''
        )
    ) as course_key,
    toLowCardinality(extract(course_key, '^course-v1:([^+]+)')) as org,

    -- block-v1:ORG+COURSE+RUN+type@TYPE+block@ID. The course's root block (+type@course+, the
    -- object of course progress) is the course itself: ''. Each question of a multi-question
    -- problem is its own object, suffixed _<part>_<question>: it carries its problem's id.
    multiIf(
        position(master_object_id, '+type@course+') > 0,
        '',
        position(master_object_id, '+type@problem+') > 0,
        replaceRegexpOne(
            extract(master_object_id, 'block-v1:[^/?#]+'), '_[0-9]+_[0-9]+$', ''
        ),
        extract(master_object_id, 'block-v1:[^/?#]+')
    ) as block_id,
    toLowCardinality(extract(block_id, '[+]type@([^+]+)[+]block@')) as block_type,
    -- The statement this one is part of (context.statement): each question of a
    -- multi-question problem refers to the statement of the whole submission. '' otherwise.
    JSONExtractString(event, 'context', 'statement', 'id') as parent_statement_id,

    JSONExtract(event, 'result', 'score', 'scaled', 'Nullable(Float64)') as scaled_score,
    -- Points earned and possible: a subsection grade's weighted totals, a problem's points.
    JSONExtract(event, 'result', 'score', 'raw', 'Nullable(Float64)') as raw_score,
    JSONExtract(event, 'result', 'score', 'max', 'Nullable(Float64)') as max_score,
    JSONExtract(event, 'result', 'success', 'Nullable(Bool)') as success,
    -- What the learner answered, as event-routing-backends writes it (a problem's submission
    -- and each of its questions); '' when the statement has none.
    JSONExtractString(event, 'result', 'response') as response,
    JSONExtract(
        event, 'result', 'extensions', 'https://w3id.org/xapi/video/extensions/time',
        'Nullable(Float64)'
    ) as video_time,
    JSONExtract(
        event, 'context', 'extensions', 'https://w3id.org/xapi/video/extensions/length',
        'Nullable(Float64)'
    ) as video_length,
    -- A seek: where the player was and where it went (seconds).
    JSONExtract(
        event, 'result', 'extensions', 'https://w3id.org/xapi/video/extensions/time-from',
        'Nullable(Float64)'
    ) as video_time_from,
    JSONExtract(
        event, 'result', 'extensions', 'https://w3id.org/xapi/video/extensions/time-to',
        'Nullable(Float64)'
    ) as video_time_to,
    -- A speed change: event-routing-backends writes speeds as text, "1.50x".
    toFloat64OrNull(
        replaceRegexpOne(
            JSONExtractString(
                event, 'result', 'extensions', 'https://w3id.org/xapi/openedx/extension/speed-from'
            ),
            'x$',
            ''
        )
    ) as video_speed_from,
    toFloat64OrNull(
        replaceRegexpOne(
            JSONExtractString(
                event, 'result', 'extensions', 'https://w3id.org/xapi/openedx/extension/speed-to'
            ),
            'x$',
            ''
        )
    ) as video_speed_to,
    -- Transcript or captions shown (true) or hidden (false): event-routing-backends sends the
    -- same statement for both.
    JSONExtract(
        event, 'result', 'extensions', 'https://w3id.org/xapi/video/extensions/cc-enabled',
        'Nullable(Bool)'
    ) as captions_enabled,
    -- Percent complete: block completion sends the cmi5 progress extension (0-100); course
    -- progress from the completion aggregator sends a scaled score (0-1) instead.
    if(
        verb_id = {{ verb("progressed") }},
        coalesce(
            JSONExtract(
                event,
                'result',
                'extensions',
                'https://w3id.org/xapi/cmi5/result/extensions/progress',
                'Nullable(Float64)'
            ),
            scaled_score * 100
        ),
        null
    ) as progress_percent,
    -- Navigation: links and outline entries by object type, sequence moves by where they end.
    toLowCardinality(
        multiIf(
            verb_id != {{ verb("navigated") }}, '',
            object_type = 'http://adlnet.gov/expapi/activities/link', 'link',
            object_type = 'http://adlnet.gov/expapi/activities/module', 'outline',
            JSONExtractString(
                event, 'context', 'extensions', 'http://id.tincanapi.com/extension/ending-point'
            ) as ending_point = 'next unit', 'next',
            ending_point = 'previous unit', 'previous',
            'tab'
        )
    ) as navigation_type,
    -- The object's name in its first language (a forum thread's title, a course's name), ''
    -- when it has none.
    JSONExtractString(event, 'object', 'definition', 'name', 1) as object_name,
    -- Forum statements: a thread (object .../threads/ID) or a reply to one (a response or a
    -- comment, .../comments/ID: event-routing-backends does not tell them apart), and the
    -- thread the statement names: its object, or the grouping activity of a posted reply.
    toLowCardinality(
        multiIf(
            object_type != {{ activity_type("discussion") }}, '',
            match(object_id, '/threads/[^/?#]+$'), 'thread',
            'reply'
        )
    ) as forum_post_type,
    multiIf(
        forum_post_type = 'thread',
        extract(object_id, '/threads/([^/?#]+)$'),
        forum_post_type = 'reply',
        extract(
            arrayFirst(iri -> match(iri, '/threads/[^/?#]+$'), context_activity_ids),
            '/threads/([^/?#]+)$'
        ),
        ''
    ) as forum_thread_id,
    -- A registration's enrolment mode (track: audit, verified...); '' for other statements
    -- (forum threads put their own kind in the same extension).
    toLowCardinality(
        if(
            verb_id = {{ verb("registered") }},
            JSONExtractString(
                event,
                'object',
                'definition',
                'extensions',
                'https://w3id.org/xapi/acrossx/extensions/type'
            ),
            ''
        )
    ) as enrollment_mode
from {{ source("xapi", "xapi_events_all") }}
