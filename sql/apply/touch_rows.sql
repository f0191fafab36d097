SELECT ampersand.touch_rows($1, $2::jsonb)
