"""The XDP UPF application: wiring, configuration, lifecycle, metrics and tools.

config     YAML + UPF_* environment + --set overrides -> frozen, validated Config
cli        the `upf` command (run, config, smf-sim, demo, stats); __main__: python -m upf
service    lifecycle: datapath -> XDP attach -> next-hop watcher -> agent -> metrics
wiring     Config -> control.config.AgentConfig; the agent on the datapath's maps
metrics    Prometheus exporter (xdp_stats read on scrape; PFCP counters); `upf stats`
smfsim     SMF simulator / PFCP load generator (smfsim_codec: its messages; loadstats)
topology   network namespace topologies (gNB, UPF, DN, SMF) for the demo and tests
testbed    `upf run` in a topology plus GTP-U traffic, for the demo and e2e tests
demo       `upf demo`
datapath/  libbpf loader, maps, next-hop watcher (the datapath helper's package)
"""
