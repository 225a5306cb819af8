# Stand-in for `uci -S -n export PACKAGE` (what OpenWrt's uci_load evaluates): reads a UCI
# file (awk -v package=NAME -f uci-export.awk FILE) and prints it as uci does, names
# unquoted, section names and values single-quoted:
#
#   package NAME
#
#   config TYPE 'NAME'
#   	option KEY 'VALUE'
#   	list KEY 'VALUE'
#
# The file syntax is libuci's (file.c). A statement is `package NAME`, `config TYPE [NAME]`,
# `option NAME VALUE` or `list NAME VALUE` (or their first letters), ended by a newline or
# `;`. A word mixes unquoted text, '...' (literal) and "..." (a backslash takes the next
# character literally); outside single quotes a backslash takes the next character
# literally, and joins the next line when it ends one; quoted text may span lines; `#`
# outside quotes comments out the rest of the line. Names are [A-Za-z0-9_] (types may also
# hold `-`). Anonymous sections get a generated name. A section named twice is one section,
# later options win, a list added to an option keeps its value as the first entry, as uci
# merges them. Like uci_load's -S (not strict), a statement that does not parse is skipped
# with a message on stderr, extra words are ignored, and the rest of the file still counts.

function warn(why) {
	printf "uci: %s:%d: %s\n", FILENAME, stmt_line, why > "/dev/stderr"
}

function quote(text) {
	gsub(/'/, "'\\''", text)
	return "'" text "'"
}

function ch(at) {
	return substr(content, at, 1)
}

function blank(c) {
	return c == " " || c == "\t" || c == "\r" || c == "\v" || c == "\f"
}

# Reads the statement at pos into words[1..nwords]. Returns 0 at the end of the input, 1
# for a statement, -1 for one that does not parse (pos is then past its line).
function statement(    c, word, inword, bad) {
	nwords = 0
	bad = ""
	while (pos <= n) {
		c = ch(pos)
		if (blank(c)) {
			pos++
			continue
		}
		if (c == "\n") {
			pos++
			line++
			if (nwords > 0)
				return 1
			continue
		}
		if (c == ";") {
			pos++
			if (nwords > 0)
				return 1
			continue
		}
		if (c == "#") {
			while (pos <= n && ch(pos) != "\n")
				pos++
			continue
		}
		if (nwords == 0)
			stmt_line = line
		word = ""
		inword = 1
		while (pos <= n && inword) {
			c = ch(pos)
			if (blank(c) || c == "\n" || c == ";" || c == "#") {
				inword = 0
			} else if (c == "'") {
				pos++
				while (pos <= n && ch(pos) != "'") {
					if (ch(pos) == "\n")
						line++
					word = word ch(pos++)
				}
				if (pos > n)
					bad = "EOF with unterminated '"
				pos++
			} else if (c == "\"") {
				pos++
				while (pos <= n && ch(pos) != "\"") {
					if (ch(pos) == "\\") {
						pos++
						if (ch(pos) == "\n") {
							pos++
							line++
							continue
						}
					} else if (ch(pos) == "\n") {
						line++
					}
					if (pos <= n)
						word = word ch(pos++)
				}
				if (pos > n)
					bad = "EOF with unterminated \""
				pos++
			} else if (c == "\\") {
				pos++
				if (ch(pos) == "\n") {
					pos++
					line++
				} else if (pos <= n) {
					word = word ch(pos++)
				}
			} else {
				word = word c
				pos++
			}
		}
		if (bad != "") {
			warn(bad)
			return -1
		}
		words[++nwords] = word
	}
	return nwords > 0
}

function skip_line() {
	while (pos <= n && ch(pos) != "\n")
		pos++
}

function valid_name(name) {
	return name ~ /^[A-Za-z0-9_]+$/
}

function keyword(word, full) {
	return word == full || word == substr(full, 1, 1)
}

function apply(    name, key) {
	if (keyword(words[1], "package")) {
		if (nwords < 2 || !valid_name(words[2]))
			return "package without a valid name"
	} else if (keyword(words[1], "config")) {
		if (nwords < 2 || words[2] !~ /^[A-Za-z0-9_-]+$/)
			return "invalid character in type field"
		if (nwords >= 3 && words[3] != "") {
			if (!valid_name(words[3]))
				return "invalid character in name field"
			name = words[3]
		} else {
			anonymous++
			name = sprintf("cfg%02x%04x", nsections + 1, (anonymous * 40503) % 65536)
		}
		if (name in index_of) {
			current = index_of[name]
		} else {
			current = ++nsections
			index_of[name] = current
			section_name[current] = name
			nkeys[current] = 0
		}
		section_type[current] = words[2]
	} else if (keyword(words[1], "option") || keyword(words[1], "list")) {
		if (current == 0)
			return "option/list command found before the first section"
		if (nwords < 2 || !valid_name(words[2]))
			return "invalid character in name field"
		key = current SUBSEP words[2]
		if (!(key in kind)) {
			order[current, ++nkeys[current]] = words[2]
			nvalues[key] = 0
		}
		if (keyword(words[1], "option")) {
			kind[key] = "option"
			nvalues[key] = 1
			value[key, 1] = nwords >= 3 ? words[3] : ""
		} else {
			kind[key] = "list"
			value[key, ++nvalues[key]] = nwords >= 3 ? words[3] : ""
		}
	} else {
		return "invalid command"
	}
	return ""
}

{
	content = content $0 "\n"
}

END {
	n = length(content)
	pos = 1
	line = 1
	current = 0
	while ((status = statement()) != 0) {
		if (status < 0) {
			skip_line()
			continue
		}
		why = apply()
		if (why != "")
			warn(why)
	}
	printf "package %s\n", package
	for (s = 1; s <= nsections; s++) {
		printf "\nconfig %s %s\n", section_type[s], quote(section_name[s])
		for (k = 1; k <= nkeys[s]; k++) {
			key = s SUBSEP order[s, k]
			for (v = 1; v <= nvalues[key]; v++)
				printf "\t%s %s %s\n", kind[key], order[s, k], quote(value[key, v])
		}
	}
}
