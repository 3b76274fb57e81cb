#!/bin/sh
# STYLE.md habit 8: unsafe or locale/time-zone dependent functions are replaced
# by checked helpers. Fails listing every use in lib/, cli/ and daemon/.
set -u
top=${1:-$(dirname "$0")/..}
cd "$top" || exit 2
dirs=""
for d in lib cli daemon; do
	[ -d "$d" ] && dirs="$dirs $d"
done
files=$(find $dirs -name '*.[ch]' | wc -l)
if [ "$files" -lt 10 ]; then
	echo "check-banned: only $files source files found under$dirs: wrong directory?" >&2
	exit 2
fi
pattern='\b(sprintf|vsprintf|strcpy|strcat|strncpy|strtok|atoi|atol|atoll|strtol|strtoul|strtoll|strtoull|sscanf|gets|gmtime|localtime|asctime|ctime|rand|srand)\s*\('
hits=$(grep -rnE "$pattern" $dirs --include='*.c' --include='*.h' | grep -vE '^\S+:[0-9]+:\s*(//|/\*|\*( |/|$))')
if [ -n "$hits" ]; then
	echo "banned functions in use:"
	echo "$hits"
	exit 1
fi
echo "no banned function in $files files under$dirs"
