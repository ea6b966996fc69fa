package netns

import (
	"fmt"
	"strings"

	"github.com/google/nftables"
)

// natTable talks to hull's table in one network namespace over a netlink
// socket opened there. Changes are queued and sent by flush as one
// nftables batch, which the kernel applies atomically: a container's
// chain, its rules and the jump to it appear together or not at all.
type natTable struct {
	c *nftables.Conn
}

func (t natTable) flush(what string) error {
	if err := t.c.Flush(); err != nil {
		return fmt.Errorf("nftables: %s: %w", what, err)
	}
	return nil
}

func (t natTable) exists() (bool, error) {
	ts, err := t.c.ListTablesOfFamily(nftables.TableFamilyINet)
	if err != nil {
		return false, fmt.Errorf("nftables: list tables: %w", err)
	}
	for _, x := range ts {
		if x.Name == TableName {
			return true, nil
		}
	}
	return false, nil
}

// chains returns the chains of hull's table by name.
func (t natTable) chains() (map[string]*nftables.Chain, error) {
	cs, err := t.c.ListChainsOfTableFamily(nftables.TableFamilyINet)
	if err != nil {
		return nil, fmt.Errorf("nftables: list chains: %w", err)
	}
	out := map[string]*nftables.Chain{}
	for _, c := range cs {
		if c.Table.Name == TableName {
			out[c.Name] = c
		}
	}
	return out, nil
}

func (t natTable) rules(chain *nftables.Chain) ([]*nftables.Rule, error) {
	rs, err := t.c.GetRules(table, chain)
	if err != nil {
		return nil, fmt.Errorf("nftables: list rules of chain %s: %w", chain.Name, err)
	}
	return rs, nil
}

// ensure creates the table, its base chains and skeleton rules, and the
// masquerade rules of network n, whichever of them are missing. Callers
// serialise ensure with the network lock.
func (t natTable) ensure(n Network) error {
	t.c.AddTable(table)
	accept := nftables.ChainPolicyAccept
	chains := map[string]*nftables.Chain{}
	for _, b := range baseChains {
		c := &nftables.Chain{Name: b.name, Table: table}
		if b.hook != nil {
			c.Type, c.Hooknum, c.Priority, c.Policy = nftables.ChainTypeNAT, b.hook, b.prio, &accept
		}
		chains[b.name] = t.c.AddChain(c)
	}
	if err := t.flush("create table inet " + TableName); err != nil {
		return err
	}
	have := map[string]bool{}
	for _, name := range []string{chainOutput, chainPostrouting} {
		rs, err := t.rules(chains[name])
		if err != nil {
			return err
		}
		for _, r := range rs {
			have[ruleTag(r)] = true
		}
	}
	if !have[tagBase] {
		for _, r := range baseRules() {
			t.c.AddRule(r.nft(chains[r.Chain]))
		}
	}
	if !have[tagNetworkPrefix+n.Name] {
		for _, r := range networkRules(n) {
			t.c.AddRule(r.nft(chains[r.Chain]))
		}
	}
	return t.flush("add rules of network " + n.Name)
}

// addContainer creates chain with rules and the jump from "ports" to it, in
// one batch.
func (t natTable) addContainer(chain string, rules []Rule, jumpRule Rule) error {
	c := t.c.AddChain(&nftables.Chain{Name: chain, Table: table})
	for _, r := range rules {
		t.c.AddRule(r.nft(c))
	}
	t.c.AddRule(jumpRule.nft(&nftables.Chain{Name: chainPorts, Table: table}))
	return t.flush("add chain " + chain)
}

// removeContainer deletes the jump tagged container:<id> and the chain
// ctr-<id>, whichever exist.
func (t natTable) removeContainer(id string) error {
	if ok, err := t.exists(); err != nil || !ok {
		return err
	}
	chains, err := t.chains()
	if err != nil {
		return err
	}
	if err := t.deleteTagged(chains[chainPorts], tagContainerPrefix+id); err != nil {
		return err
	}
	if c := chains[ContainerChainPrefix+id]; c != nil {
		t.c.FlushChain(c)
		t.c.DelChain(c)
	}
	return t.flush("delete chain " + ContainerChainPrefix + id)
}

// deleteTagged queues the deletion of chain's rules that carry tag.
func (t natTable) deleteTagged(chain *nftables.Chain, tag string) error {
	if chain == nil {
		return nil
	}
	rs, err := t.rules(chain)
	if err != nil {
		return err
	}
	for _, r := range rs {
		if ruleTag(r) == tag {
			if err := t.c.DelRule(r); err != nil {
				return fmt.Errorf("nftables: delete rule %q of chain %s: %w", tag, chain.Name, err)
			}
		}
	}
	return nil
}

// removeNetwork deletes the rules tagged network:<name>, and the whole table
// when last is set (no network left).
func (t natTable) removeNetwork(name string, last bool) error {
	if ok, err := t.exists(); err != nil || !ok {
		return err
	}
	if last {
		t.c.DelTable(table)
		return t.flush("delete table inet " + TableName)
	}
	chains, err := t.chains()
	if err != nil {
		return err
	}
	if err := t.deleteTagged(chains[chainPostrouting], tagNetworkPrefix+name); err != nil {
		return err
	}
	return t.flush("delete rules of network " + name)
}

// tableState is what hull's table holds, by owner: container IDs with a
// chain or jump, and networks with rules.
type tableState struct {
	Containers map[string]int // id → number of DNAT rules
	Networks   map[string]int // name → number of rules
	Present    bool
}

func (t natTable) state() (tableState, error) {
	st := tableState{Containers: map[string]int{}, Networks: map[string]int{}}
	ok, err := t.exists()
	if err != nil || !ok {
		return st, err
	}
	st.Present = true
	chains, err := t.chains()
	if err != nil {
		return st, err
	}
	for name, c := range chains {
		rs, err := t.rules(c)
		if err != nil {
			return st, err
		}
		if id, ok := strings.CutPrefix(name, ContainerChainPrefix); ok {
			st.Containers[id] += len(rs)
			continue
		}
		for _, r := range rs {
			tag := ruleTag(r)
			if id, ok := strings.CutPrefix(tag, tagContainerPrefix); ok {
				st.Containers[id] += 0 // a jump alone still marks the container
			} else if n, ok := strings.CutPrefix(tag, tagNetworkPrefix); ok {
				st.Networks[n]++
			}
		}
	}
	return st, nil
}
