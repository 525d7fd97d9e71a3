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


{% macro is_learning_activity(verb_column="verb_id") -%}
    {#- What a learner does in a course, as opposed to what the platform records about them:
        enrolment changes and course grade outcomes are not learning activity. -#}
    {{ verb_column }} not in {{ verbs(["registered", "unregistered", "passed", "failed"]) }}
{%- endmacro %}


{% macro course_key_pattern() -%}
    {#- course-v1:ORG+COURSE+RUN, stopping where a URL path or a block key goes on. -#}
    'course-v1:[^/?#+]+[+][^/?#+]+[+][^/?#+]+'
{%- endmacro %}
