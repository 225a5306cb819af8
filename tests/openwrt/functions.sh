# Stand-in for OpenWrt's /lib/functions.sh with /lib/config/uci.sh: the configuration calls
# an init script makes, with the semantics of the real ones. A value lives in the variable
# CONFIG_<section>_<option>; a list's entries in CONFIG_<section>_<option>_ITEM<n> with
# the count in CONFIG_<section>_<option>_LENGTH, and joined by spaces in the option's own
# variable; a missing or empty value gives the default; section and option names that are
# not [A-Za-z0-9_] leave the variable untouched.
# shellcheck shell=sh disable=SC3043

# append VAR VALUE [SEP]: VALUE added to $VAR, separated by SEP (a space) if both are set.
append() {
	# shellcheck disable=SC2034 # value and sep are read by the eval
	local var="$1" value="$2" sep="${3:- }"
	eval "$var=\${$var:+\${$var}\${value:+\$sep}}\$value"
}

config_set() {
	eval "CONFIG_${1}_${2}=\$3"
}

# config_get VAR SECTION OPTION [DEFAULT], or config_get SECTION OPTION to print it.
config_get() {
	case "$2${3:-$1}" in
	*[!A-Za-z0-9_]*) return 0 ;;
	esac
	if [ -z "$3" ]; then
		eval "printf '%s\n' \"\${CONFIG_${1}_${2}:-}\""
	else
		eval "$1=\${CONFIG_${2}_${3}:-\$4}"
	fi
}

# get_bool VALUE [DEFAULT]: 1 or 0 for the words UCI knows, DEFAULT for anything else.
get_bool() {
	case "$1" in
	1 | on | true | yes | enabled) printf 1 ;;
	0 | off | false | no | disabled) printf 0 ;;
	*) printf '%s' "$2" ;;
	esac
}

config_get_bool() {
	# shellcheck disable=SC2034 # raw is read by the eval
	local raw
	config_get raw "$2" "$3" "$4"
	eval "$1=\$(get_bool \"\$raw\" \"\$4\")"
}

# config_foreach FUNCTION [TYPE] [ARG...]: FUNCTION SECTION ARG... for each section (of TYPE).
config_foreach() {
	local function="$1" type="$2" section section_type
	[ "$#" -lt 2 ] || shift
	shift
	for section in $CONFIG_SECTIONS; do
		config_get section_type "$section" TYPE
		[ -z "$type" ] || [ "$section_type" = "$type" ] || continue
		"$function" "$section" "$@"
	done
}

# config_list_foreach SECTION OPTION FUNCTION [ARG...]: FUNCTION ENTRY ARG... for each entry.
config_list_foreach() {
	[ "$#" -ge 3 ] || return 0
	local section="$1" option="$2" function="$3" length entry n=1
	shift 3
	config_get length "$section" "${option}_LENGTH"
	[ -n "$length" ] || return 0
	while [ "$n" -le "$length" ]; do
		config_get entry "$section" "${option}_ITEM$n"
		"$function" "$entry" "$@"
		n=$((n + 1))
	done
}

# What `uci export` prints, and uci_load evaluates.
package() {
	return 0
}

config() {
	CONFIG_NUM_SECTIONS=$((CONFIG_NUM_SECTIONS + 1))
	CONFIG_SECTION="${2:-cfg$CONFIG_NUM_SECTIONS}"
	append CONFIG_SECTIONS "$CONFIG_SECTION"
	config_set "$CONFIG_SECTION" TYPE "$1"
}

option() {
	local name="$1"
	shift
	config_set "$CONFIG_SECTION" "$name" "$*"
}

list() {
	local name="$1" length
	shift
	config_get length "$CONFIG_SECTION" "${name}_LENGTH" 0
	[ "$length" != 0 ] || append CONFIG_LIST_STATE "${CONFIG_SECTION}_${name}"
	length=$((length + 1))
	config_set "$CONFIG_SECTION" "${name}_ITEM$length" "$*"
	config_set "$CONFIG_SECTION" "${name}_LENGTH" "$length"
	append "CONFIG_${CONFIG_SECTION}_${name}" "$*" " "
}

# config_load PACKAGE: forgets what was loaded, then loads $UCI_CONFIG_DIR/PACKAGE
# (/etc/config/PACKAGE). Fails if there is no such file, as uci does; statements that do not
# parse are skipped (uci_load's -S).
config_load() {
	local data status var
	for var in $CONFIG_LIST_STATE; do
		eval "CONFIG_${var}= CONFIG_${var}_LENGTH="
	done
	CONFIG_LIST_STATE=
	CONFIG_SECTIONS=
	CONFIG_NUM_SECTIONS=0
	CONFIG_SECTION=
	[ -e "${UCI_CONFIG_DIR:-/etc/config}/$1" ] || return 1
	# uci_load drops uci's complaints too.
	data=$(awk -v package="$1" -f "$L3ROAMD_TEST_HARNESS/uci-export.awk" \
		"${UCI_CONFIG_DIR:-/etc/config}/$1" 2>/dev/null)
	status=$?
	[ "$status" = 0 ] && [ -n "$data" ] && eval "$data"
	return "$status"
}
