# Stand-in for OpenWrt's rules.mk, for tests/openwrt_init.rs: the variables a package
# Makefile uses, with the values of a MIPS target. Recipes are not run: the test sets make's
# SHELL to ./record, which writes each command down.
INCLUDE_DIR:=$(TOPDIR)/include
BUILD_DIR:=$(TOPDIR)/build_dir/target-mipsel_24kc_musl
INSTALL_DIR:=install -d -m0755
INSTALL_BIN:=install -m0755
INSTALL_CONF:=install -m0600
CP:=cp -fpR
