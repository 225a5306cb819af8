# Stand-in for the packages feed's lang/rust/rust-package.mk: the environment OpenWrt gives
# cargo (openwrt.md §2.3), Build/Compile/Cargo's command (its first argument the package's
# sub-directory, its second extra cargo arguments), RustBinPackage and the default
# Build/Compile.
RUST_ARCH_DEPENDS:=@(aarch64||arm||i386||loongarch64||mips||mips64||mips64el||mipsel||powerpc||powerpc64||riscv64||x86_64)
CARGO_PKG_PROFILE:=release
CARGO_PKG_CONFIG_VARS= \
	CARGO_BUILD_TARGET=mipsel-unknown-linux-musl \
	CARGO_PROFILE_RELEASE_OPT_LEVEL=z \
	CARGO_PROFILE_RELEASE_LTO=true \
	CARGO_PROFILE_RELEASE_CODEGEN_UNITS=1 \
	CARGO_PROFILE_RELEASE_DEBUG=false \
	CARGO_PROFILE_RELEASE_DEBUG_ASSERTIONS=false \
	CARGO_PROFILE_RELEASE_OVERFLOW_CHECKS=true \
	CARGO_PROFILE_RELEASE_PANIC=unwind \
	CARGO_PROFILE_RELEASE_RPATH=false
CARGO_PKG_VARS= $(CARGO_PKG_CONFIG_VARS) CC=cc MAKEFLAGS="$(PKG_JOBS)"
CARGO_PKG_ARGS= --locked

define Build/Compile/Cargo
	+$(CARGO_PKG_VARS) cargo install -v --profile $(CARGO_PKG_PROFILE) --root $(PKG_INSTALL_DIR) --path "$(PKG_BUILD_DIR)/$(if $(strip $(1)),$(strip $(1)),$(strip $(MAKE_PATH)))" -j1 $(CARGO_PKG_ARGS) $(2)
endef

define RustBinPackage
  ifndef Package/$(1)/install
    define Package/$(1)/install
	$$(INSTALL_DIR) $$(1)/usr/bin/
	$$(INSTALL_BIN) $$(PKG_INSTALL_DIR)/bin/* $$(1)/usr/bin/
    endef
  endif
endef

Build/Compile=$(call Build/Compile/Cargo)
