#!/bin/sh
# placeholder until the avro codec lands: emits an empty schema table
echo '/* generated */'
