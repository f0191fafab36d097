-- Fails for every combination of `columns` that more than one row of `model` holds: a
-- composite key's uniqueness, which dbt has no built-in test for.
{% test unique_combination(model, columns) %}
select {{ columns | join(', ') }}, count(*) as copies
from {{ model }}
group by {{ columns | join(', ') }}
having count(*) > 1
{% endtest %}
