-- An exact pair's value as text that reads back as the same decimal, without making the numeric
-- (issue 16: the evaluator's minutes' read, bench/README.md "Sixteenth round: the minutes'
-- read").
--
-- exact_text(mantissa, scale, wide) is exact_decimal's value (0024, the representation's home)
-- written as its mantissa and, when the scale is not 0, `E-` and the scale: 1000 and 2 give
-- '1000E-2', which a decimal reader (Python's Decimal, numeric's own input) takes as 10.00,
-- coefficient and exponent as exact_decimal's text '10.00' gives them; a scale of 0 gives the
-- mantissa's digits as numeric would print them. A wide value is numeric's own text; NULL stays
-- NULL. It costs the server an integer's output instead of numeric's multiplication and output
-- (about a tenth of the evaluator's minutes' read at its benchmark). varchar, not text: the
-- evaluator loads the read's varchar columns as decimals and its text columns (the flags) as
-- strings (alerts/evaluation.py, _READ_HOURS). Inlined by the planner, as 0024's functions (which takes
-- immutable operators only: hence the casts to text before ||, whose anynonarray form is stable).
CREATE FUNCTION exact_text(mantissa bigint, scale smallint, wide numeric) RETURNS varchar
LANGUAGE sql IMMUTABLE PARALLEL SAFE
RETURN coalesce(CASE WHEN scale = 0 THEN mantissa::text ELSE mantissa::text || 'E-' || scale::text END,
                wide::text);
