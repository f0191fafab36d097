COPY pg_temp.ampsync_stage FROM STDIN
