//! Control-socket commands executed against the engine's state (cli-and-control.md §5).
//! Parsing and reply formats live in [`super::control`]; this is what each command does.

use super::control::{self, ClientView, Command, ErrorReason};
use super::{ConnId, Engine, KernelOp, LookupToken, Output};

impl Engine {
    fn reply(&mut self, conn: ConnId, text: String) {
        self.out.push_back(Output::ControlReply {
            conn,
            bytes: text.into_bytes(),
        });
    }

    pub(super) fn handle_command(&mut self, conn: ConnId, command: Command) {
        log::debug!("control: {}", command.name());
        match command {
            Command::GetClients => {
                let text = self.render_clients();
                self.reply(conn, text);
            }
            Command::GetStats => {
                let text = self.stats.to_json();
                self.reply(conn, text);
            }
            Command::GetPrefixes => {
                let prefixes: Vec<_> = self.prefixes.iter().map(|p| p.internal.addr()).collect();
                let text = control::render_prefixes(self.cfg.v4_mapping.prefix().addr(), &prefixes);
                self.reply(conn, text);
            }
            Command::GetMeshifs => {
                let names: Vec<&str> = self.mesh_ifs.iter().map(String::as_str).collect();
                let text = control::render_meshifs(&names);
                self.reply(conn, text);
            }
            Command::AddMeshif(name) => {
                let reply = match self.add_mesh_if(name) {
                    Ok(()) => String::new(),
                    Err(reason) => control::render_error(reason),
                };
                self.reply(conn, reply);
            }
            Command::DelMeshif(name) => {
                self.mesh_ifs.retain(|m| *m != name);
                self.reply(conn, String::new());
            }
            Command::AddPrefix {
                text,
                prefix,
                had_host_bits,
            } => {
                if had_host_bits {
                    log::warn!("add_prefix {text}: host bits set, using {prefix}");
                }
                let reply = match self.add_prefix(prefix) {
                    Ok(()) => control::render_added_prefix(&text),
                    Err(reason) => control::render_error(reason),
                };
                self.reply(conn, reply);
            }
            Command::DelPrefix { text, prefix, .. } => {
                self.del_prefix(&prefix);
                self.reply(conn, control::render_deleted_prefix(&text));
            }
            Command::AddAddress { addr, mac, .. } => {
                let addr = self.to_internal(addr);
                let ok = match self.client_ifindex() {
                    Some(ifindex) => self.add_address(addr, mac, ifindex),
                    None => false,
                };
                self.reply(conn, if ok { "OK" } else { "NOT OK" }.to_string());
            }
            Command::DelAddress { addr, mac } => {
                let addr = self.to_internal(addr);
                let held = self
                    .clients
                    .get(&mac)
                    .is_some_and(|c| c.address(&addr).is_some());
                if held {
                    self.remove_address(mac, &addr, "del_address");
                }
                self.reply(conn, if held { "OK" } else { "NOT OK" }.to_string());
            }
            Command::Probe { addr, mac } => match self.client_ifindex() {
                Some(ifindex) => {
                    self.out.push_back(Output::Kernel(KernelOp::ProbeNeighbour {
                        ifindex,
                        addr,
                        mac,
                    }));
                    self.reply(conn, String::new());
                }
                None => self.reply(conn, control::render_error(ErrorReason::NoClientInterface)),
            },
            Command::Verbosity(level) => {
                self.out.push_back(Output::SetLogLevel(level));
                self.reply(conn, String::new());
            }
            Command::HasRoute { text, addr } => {
                self.pending_has_route.insert(conn, text);
                self.out.push_back(Output::Kernel(KernelOp::LookupRoute {
                    token: LookupToken::HasRoute(conn),
                    addr,
                }));
            }
        }
    }

    /// `get_clients`: every client of the table, in order of first detection.
    fn render_clients(&self) -> String {
        let mut clients: Vec<_> = self.clients.values().collect();
        clients.sort_by_key(|c| c.seq);
        let views: Vec<ClientView<'_>> = clients
            .iter()
            .map(|c| ClientView {
                mac: c.mac,
                interface: self.ifname(c.ifindex),
                addresses: c
                    .addresses
                    .iter()
                    .map(|a| (a.addr, a.state as u8))
                    .collect(),
            })
            .collect();
        control::render_clients(&views)
    }
}
