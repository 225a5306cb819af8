# Stand-in for OpenWrt's include/package.mk: the build directories, the default
# Build/Prepare (unpack the download) and a BuildPackage that turns the package's steps into
# the targets prepare, compile and install (IDIR: the package's root) and prints its
# metadata with `make info`.
PKG_BUILD_DIR ?= $(BUILD_DIR)/$(PKG_NAME)-$(PKG_VERSION)
PKG_INSTALL_DIR ?= $(PKG_BUILD_DIR)/ipkg-install
PKG_JOBS ?= -j1
MAKE_PATH ?= .
IDIR ?= $(BUILD_DIR)/root-$(PKG_NAME)

define Build/Prepare
	unpack $(PKG_SOURCE_PROTO) $(PKG_SOURCE_URL) $(PKG_SOURCE_VERSION) $(PKG_MIRROR_HASH) $(PKG_BUILD_DIR)
endef

define BuildPackage
  $(eval $(Package/$(1)))
  prepare:
	$$(Build/Prepare)
  compile:
	$$(Build/Compile)
  install:
	$$(call Package/$(1)/install,$$(IDIR))
  info:
	@: $$(info name=$(PKG_NAME) version=$(PKG_VERSION) depends=$$(DEPENDS) build_depends=$(PKG_BUILD_DEPENDS) conffiles=$$(strip $$(Package/$(1)/conffiles)))
endef
