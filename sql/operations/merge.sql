-- Writes the stage: current rows and their history versions at run $1's observed time $2.
SELECT ampersand.merge_stage('operations', $1, $2)
