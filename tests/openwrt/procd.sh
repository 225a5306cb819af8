# Stand-in for OpenWrt's /lib/functions/procd.sh (and the jshn.sh calls service data makes):
# instead of sending procd a JSON message over ubus, every call is written to $L3ROAMD_TEST_OUT/procd as one record, words ending
# in NUL: the record's kind, the number of words that follow, the words. The test folds
# them as procd would (set_param replaces a parameter, append_param extends it).
# shellcheck shell=sh disable=SC3043

PROCD_RELOAD_DELAY=1000
_procd_trigger_depth=0
_procd_instance_open=0

_procd_record() {
	local word
	{
		printf '%s\0%s\0' "$1" "$(($# - 1))"
		shift
		for word in "$@"; do
			printf '%s\0' "$word"
		done
	} >>"$L3ROAMD_TEST_OUT/procd"
}

_procd_name() {
	local script
	# shellcheck disable=SC2154 # initscript is set by rc.common
	script=$(readlink "$initscript")
	basename "${script:-$initscript}"
}

procd_open_service() {
	_procd_record open_service "$@"
}

procd_close_service() {
	procd_open_trigger
	service_triggers
	procd_close_trigger
	_procd_record open_data
	service_data
	_procd_record close_data
	_procd_record close_service "$@"
}

procd_set_config_changed() {
	_procd_record config_changed "$@"
}

# jshn.sh, as far as service data needs it: each call one record, folded by the test.
json_add_object() {
	_procd_record json_add_object "$@"
}

json_close_object() {
	_procd_record json_close_object
}

json_add_array() {
	_procd_record json_add_array "$@"
}

json_close_array() {
	_procd_record json_close_array
}

json_add_string() {
	_procd_record json_add_string "$@"
}

procd_open_instance() {
	[ "$_procd_instance_open" = 0 ] || _procd_record error "instance opened twice"
	_procd_instance_open=1
	_procd_record open_instance "$@"
}

procd_close_instance() {
	[ "$_procd_instance_open" = 1 ] || _procd_record error "no instance to close"
	_procd_instance_open=0
	_procd_record close_instance
}

procd_set_param() {
	[ "$_procd_instance_open" = 1 ] || _procd_record error "set_param $1 outside an instance"
	_procd_record set_param "$@"
}

procd_append_param() {
	[ "$_procd_instance_open" = 1 ] || _procd_record error "append_param $1 outside an instance"
	_procd_record append_param "$@"
}

procd_open_trigger() {
	_procd_trigger_depth=$((_procd_trigger_depth + 1))
}

procd_close_trigger() {
	_procd_trigger_depth=$((_procd_trigger_depth - 1))
}

# Each trigger as one record: event, condition ("" for none), delay in ms, command.
_procd_trigger() {
	[ "$_procd_trigger_depth" -gt 0 ] || _procd_record error "trigger $1 outside open_trigger"
	_procd_record trigger "$@"
}

procd_add_raw_trigger() {
	local event="$1" delay="$2"
	shift 2
	_procd_trigger "$event" "" "$delay" "$@"
}

procd_add_config_trigger() {
	local event="$1" package="$2"
	shift 2
	_procd_trigger "$event" "package=$package" "$PROCD_RELOAD_DELAY" "$@"
}

procd_add_interface_trigger() {
	local event="$1" interface="$2"
	shift 2
	_procd_trigger "$event" "interface=$interface" "$PROCD_RELOAD_DELAY" "$@"
}

procd_add_reload_trigger() {
	local file name
	name=$(_procd_name)
	procd_open_trigger
	for file in "$@"; do
		procd_add_config_trigger config.change "$file" "/etc/init.d/$name" reload
	done
	procd_close_trigger
}

procd_add_reload_interface_trigger() {
	procd_open_trigger
	procd_add_interface_trigger "interface.*" "$1" "/etc/init.d/$(_procd_name)" reload
	procd_close_trigger
}

procd_kill() {
	_procd_record kill "$@"
}
