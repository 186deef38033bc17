// SPDX-License-Identifier: GPL-2.0
/* Not a program, never loaded: the constants the agent shares with the programs, as
 * BTF. An enum reaches an object's BTF only where a type uses it, so this struct
 * uses each one; make bpf compiles this file and generates
 * src/dataplane/bpf/contract.ts from its BTF and the programs' (gen-contract.mjs). */
#include <linux/bpf.h>
#include "xlb.h"

struct xlb_contract {
	enum xlb_limits limits;
	enum xlb_svc_type svc_type;
	enum xlb_svc_flags svc_flags;
	enum xlb_ct_flags ct_flags;
	enum xlb_backend_flags backend_flags;
	enum xlb_device_flags device_flags;
	enum xlb_drop_reason drop_reason;
	enum xlb_action action;
	enum xlb_via via;
	/* the kernel's, as the agent passes and reads them */
	enum bpf_map_type map_type;
	enum xdp_action xdp_action;
};

struct xlb_contract xlb_contract;
