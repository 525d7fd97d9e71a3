{#- No two rows share the same values of these columns: the grain of a model. -#}
{% test unique_combination(model, columns) %}
    select {{ columns | join(", ") }}, count() as copies
    from {{ model }}
    group by {{ columns | join(", ") }}
    having copies > 1
{% endtest %}
