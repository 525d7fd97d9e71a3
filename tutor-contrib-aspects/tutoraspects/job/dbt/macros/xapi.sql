{#- Vocabulary of the statements that event-routing-backends emits, and how to read them. -#}

{% macro verb(name) -%}
    {#- The IRI of a verb, as an SQL string literal: verb('registered'). -#}
    {%- set verbs = {
        "registered": "http://adlnet.gov/expapi/verbs/registered",
        "unregistered": "http://id.tincanapi.com/verb/unregistered",
        "played": "https://w3id.org/xapi/video/verbs/played",
        "paused": "https://w3id.org/xapi/video/verbs/paused",
        "completed": "http://adlnet.gov/expapi/verbs/completed",
        "attempted": "http://adlnet.gov/expapi/verbs/attempted",
        "evaluated": "https://w3id.org/xapi/acrossx/verbs/evaluated",
        "navigated": "https://w3id.org/xapi/dod-isd/verbs/navigated",
        "progressed": "http://adlnet.gov/expapi/verbs/progressed",
        "passed": "http://adlnet.gov/expapi/verbs/passed",
        "failed": "http://adlnet.gov/expapi/verbs/failed",
        "earned": "http://id.tincanapi.com/verb/earned",
        "initialized": "http://adlnet.gov/expapi/verbs/initialized",
        "terminated": "http://adlnet.gov/expapi/verbs/terminated",
        "seeked": "https://w3id.org/xapi/video/verbs/seeked",
        "interacted": "http://adlnet.gov/expapi/verbs/interacted",
        "asked": "http://adlnet.gov/expapi/verbs/asked",
        "posted": "https://w3id.org/xapi/acrossx/verbs/posted",
        "edited": "https://w3id.org/xapi/acrossx/verbs/edited",
        "deleted": "https://w3id.org/xapi/dod-isd/verbs/deleted",
        "reported": "https://w3id.org/xapi/acrossx/verbs/reported",
        "unreported": "https://w3id.org/xapi/openedx/verb/unreported",
        "voted": "https://w3id.org/xapi/openedx/verb/voted",
        "viewed": "http://id.tincanapi.com/verb/viewed",
    } -%}
    {%- if name not in verbs -%}
        {{ exceptions.raise_compiler_error("Unknown verb '" ~ name ~ "'; known: " ~ verbs.keys() | join(", ")) }}
    {%- endif -%}
    '{{ verbs[name] }}'
{%- endmacro %}


{% macro verbs(names) -%}
    {#- A parenthesised list of verb IRIs, for IN: verbs(['registered', 'unregistered']). -#}
    ({%- for name in names -%}{{ verb(name) }}{{ ", " if not loop.last }}{%- endfor -%})
{%- endmacro %}


{% macro is_learning_activity(verb_column="verb_id", object_type_column="object_type") -%}
    {#- What a learner does in a course, as opposed to what the platform records about them:
        enrolment changes, course grade outcomes (passed, failed), grades (earned: course and
        subsection grades, recomputed by the platform, e.g. in a bulk regrade) and the
        platform's record of a problem's new score (attempted about a question,
        edx.grades.problem.submitted) are not learning activity. The browser's attempted
        (about an interaction) is. -#}
    {{ verb_column }} not in {{ verbs(["registered", "unregistered", "passed", "failed", "earned"]) }}
    and not (
        {{ verb_column }} = {{ verb("attempted") }}
        and {{ object_type_column }} = '{{ question_type() }}'
    )
{%- endmacro %}


{% macro question_type() -%}
    {#- The activity type of the platform's problem score statements (edx.grades.problem.submitted). -#}
    http://adlnet.gov/expapi/activities/question
{%- endmacro %}


{% macro activity_type(name) -%}
    {#- The IRI of an activity type event-routing-backends gives objects, as an SQL string
        literal: activity_type('discussion'). -#}
    {%- set types = {
        "discussion": "http://id.tincanapi.com/activitytype/discussion",
        "solution": "http://id.tincanapi.com/activitytype/solution",
        "supplemental_info": "https://w3id.org/xapi/acrossx/extensions/supplemental-info",
        "video": "https://w3id.org/xapi/video/activity-type/video",
    } -%}
    {%- if name not in types -%}
        {{ exceptions.raise_compiler_error("Unknown activity type '" ~ name ~ "'; known: " ~ types.keys() | join(", ")) }}
    {%- endif -%}
    '{{ types[name] }}'
{%- endmacro %}


{% macro forum_verbs() -%}
    {#- What event-routing-backends sends for the edx.forum.* events a default install routes:
        threads, responses and comments posted, edited, deleted, reported, unreported, voted
        (threads and responses), viewed (threads). -#}
    {{ verbs(["posted", "edited", "deleted", "reported", "unreported", "voted", "viewed"]) }}
{%- endmacro %}


{% macro course_key_pattern() -%}
    {#- course-v1:ORG+COURSE+RUN, stopping where a URL path or a block key goes on. -#}
    'course-v1:[^/?#+]+[+][^/?#+]+[+][^/?#+]+'
{%- endmacro %}



{% macro ccx_key_pattern() -%}
    {#- ccx-v1:ORG+COURSE+RUN+ccx@N, a custom run (CCX) of the master course course-v1:ORG+COURSE+RUN. -#}
    'ccx-v1:[^/?#+]+[+][^/?#+]+[+][^/?#+]+[+]ccx@[^/?#+]+'
{%- endmacro %}


{% macro master_ids(expression) -%}
    {#- An IRI with CCX keys replaced by those of the master course: ccx-v1:O+C+R+ccx@N becomes
        course-v1:O+C+R, and ccx-block-v1:O+C+R+ccx@N+type@T+block@B becomes
        block-v1:O+C+R+type@T+block@B (a CCX shows the master course's blocks). -#}
    replaceRegexpAll(
        replaceRegexpAll(
            {{ expression }},
            'ccx-block-v1:([^/?#+]+[+][^/?#+]+[+][^/?#+]+)[+]ccx@[^/?#+]+[+]type@',
            'block-v1:\\1+type@'
        ),
        'ccx-v1:([^/?#+]+[+][^/?#+]+[+][^/?#+]+)[+]ccx@[^/?#+]+',
        'course-v1:\\1'
    )
{%- endmacro %}


{% macro ccx_key_of(expression) -%}
    {#- The CCX key an IRI names (from a ccx-v1 course key or a ccx-block-v1 block key), or ''. -#}
    coalesce(
        nullIf(extract({{ expression }}, {{ ccx_key_pattern() }}), ''),
        nullIf(
            concat(
                'ccx-v1:',
                extract(
                    {{ expression }},
                    'ccx-block-v1:([^/?#+]+[+][^/?#+]+[+][^/?#+]+[+]ccx@[^/?#+]+)[+]type@'
                )
            ),
            'ccx-v1:'
        ),
        ''
    )
{%- endmacro %}


{% macro is_submission() -%}
    {#- A graded submission of a problem: an evaluated statement about a problem, for the whole
        problem (not one of its questions, which refer to the submission's statement). -#}
    verb_id = {{ verb("evaluated") }} and block_type = 'problem' and parent_statement_id = ''
{%- endmacro %}


{% macro submission_is_correct() -%}
    {#- Full marks when the submission has a score; its result.success otherwise. -#}
    if(scaled_score is null, coalesce(success, false), scaled_score >= 1)
{%- endmacro %}
