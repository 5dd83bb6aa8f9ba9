package kafka

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"

	kafkago "github.com/segmentio/kafka-go"

	"govx"
)

// What operators' tools read about the bus: its topics with their
// offsets, and its consumer groups with their members and lag. Nothing
// here writes or commits.

// PartitionOffsets are a partition's bounds: Start is its first offset
// still kept, End the offset the next message will get.
type PartitionOffsets struct {
	Partition  int
	Start, End int64
}

// Messages is how many messages the partition keeps.
func (p PartitionOffsets) Messages() int64 { return p.End - p.Start }

// TopicInfo is a topic and its partitions, by partition number.
type TopicInfo struct {
	Name       string
	Partitions []PartitionOffsets
}

// ListTopics returns the topics the principal may describe, by name, with
// their partitions' offsets. Topics whose names start with "__" (the
// broker's own) are left out.
func ListTopics(ctx context.Context, cfg Config) ([]TopicInfo, error) {
	const op = "kafka.ListTopics"
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	client, err := cfg.client()
	if err != nil {
		return nil, err
	}
	var md *kafkago.MetadataResponse
	err = retry(ctx, func() error {
		md, err = client.Metadata(ctx, &kafkago.MetadataRequest{})
		return err
	})
	if err != nil {
		return nil, unavailable(op, cfg.explain(ctx, err))
	}
	parts := map[string][]int{}
	for _, t := range md.Topics {
		if t.Error != nil || strings.HasPrefix(t.Name, "__") {
			continue
		}
		for _, p := range t.Partitions {
			parts[t.Name] = append(parts[t.Name], p.ID)
		}
	}
	bounds, err := offsets(ctx, client, parts)
	if err != nil {
		return nil, unavailable(op, err)
	}
	out := make([]TopicInfo, 0, len(parts))
	for name := range parts {
		out = append(out, TopicInfo{Name: name, Partitions: bounds[name]})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out, nil
}

// TopicOffsets returns the bounds of every partition of topic, by
// partition number. A topic that does not exist (or that the principal
// may not describe) is KindNotFound (topic_not_found).
func TopicOffsets(ctx context.Context, cfg Config, topic string) ([]PartitionOffsets, error) {
	const op = "kafka.TopicOffsets"
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	client, err := cfg.client()
	if err != nil {
		return nil, err
	}
	parts, err := partitions(ctx, cfg, client, op, topic, false)
	if err != nil {
		return nil, err
	}
	bounds, err := offsets(ctx, client, map[string][]int{topic: parts})
	if err != nil {
		return nil, unavailable(op, err)
	}
	return bounds[topic], nil
}

// partitions are the partition numbers of topic, sorted. With wait, a
// topic that does not exist is waited for as long as a broker that is not
// reachable yet (kafka-go's topic errors count as temporary): it may have
// just been created.
func partitions(ctx context.Context, cfg Config, client *kafkago.Client, op, topic string, wait bool) ([]int, error) {
	var parts []int
	var topicErr error
	err := retry(ctx, func() error {
		md, err := client.Metadata(ctx, &kafkago.MetadataRequest{Topics: []string{topic}})
		if err != nil {
			return err
		}
		parts = parts[:0]
		for _, t := range md.Topics {
			if t.Name != topic {
				continue
			}
			if t.Error != nil && wait {
				return t.Error
			}
			topicErr = t.Error
			for _, p := range t.Partitions {
				parts = append(parts, p.ID)
			}
		}
		return nil
	})
	if err == nil {
		err = topicErr
	}
	if errors.Is(err, kafkago.UnknownTopicOrPartition) || (err == nil && len(parts) == 0) {
		return nil, &govx.Error{Kind: govx.KindNotFound, Code: CodeTopicNotFound, Op: op,
			Message: fmt.Sprintf("topic %s does not exist", topic), Err: err}
	}
	if err != nil {
		return nil, unavailable(op, cfg.explain(ctx, err))
	}
	sort.Ints(parts)
	return parts, nil
}

// offsets are the bounds of the given partitions of each topic, sorted by
// partition.
func offsets(ctx context.Context, client *kafkago.Client, parts map[string][]int) (map[string][]PartitionOffsets, error) {
	out := map[string][]PartitionOffsets{}
	if len(parts) == 0 {
		return out, nil
	}
	req := &kafkago.ListOffsetsRequest{Topics: map[string][]kafkago.OffsetRequest{}}
	want := 0
	for topic, ps := range parts {
		for _, p := range ps {
			req.Topics[topic] = append(req.Topics[topic], kafkago.FirstOffsetOf(p), kafkago.LastOffsetOf(p))
			want++
		}
	}
	err := retry(ctx, func() error {
		resp, err := client.ListOffsets(ctx, req)
		if err != nil {
			return err
		}
		clear(out)
		got := 0
		for topic, pos := range resp.Topics {
			for _, po := range pos {
				if po.Error != nil {
					return fmt.Errorf("offsets of %s/%d: %w", topic, po.Partition, po.Error)
				}
				out[topic] = append(out[topic], PartitionOffsets{Partition: po.Partition, Start: po.FirstOffset, End: po.LastOffset})
				got++
			}
		}
		if got != want {
			return fmt.Errorf("offsets of %d of %d partitions", got, want)
		}
		return nil
	})
	for _, ps := range out {
		sort.Slice(ps, func(i, j int) bool { return ps[i].Partition < ps[j].Partition })
	}
	return out, err
}

// GroupInfo is a consumer group: its state, its members and, for each
// partition it has committed an offset of, how far behind it is.
type GroupInfo struct {
	ID      string
	State   string // Stable, Empty, PreparingRebalance, … as the broker says
	Members []GroupMember
	Offsets []GroupOffset // by topic and partition
}

// Lag is the group's total lag over its committed partitions.
func (g GroupInfo) Lag() int64 {
	var n int64
	for _, o := range g.Offsets {
		n += o.Lag
	}
	return n
}

// GroupMember is one consumer of a group and the partitions assigned to
// it, by topic.
type GroupMember struct {
	ID, ClientID, Host string
	Assigned           map[string][]int
}

// GroupOffset is a group's committed offset of one partition, the
// partition's end and the difference: the messages not yet consumed.
type GroupOffset struct {
	Topic     string
	Partition int
	Committed int64
	End       int64
	Lag       int64
}

// ListGroups returns the consumer groups the principal may describe, by
// id, with their members and lag.
func ListGroups(ctx context.Context, cfg Config) ([]GroupInfo, error) {
	const op = "kafka.ListGroups"
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	client, err := cfg.client()
	if err != nil {
		return nil, err
	}
	var lg *kafkago.ListGroupsResponse
	err = retry(ctx, func() error {
		lg, err = client.ListGroups(ctx, &kafkago.ListGroupsRequest{})
		if err == nil && lg.Error != nil {
			err = lg.Error
		}
		return err
	})
	if err != nil {
		return nil, unavailable(op, cfg.explain(ctx, err))
	}
	var ids []string
	for _, g := range lg.Groups {
		ids = append(ids, g.GroupID)
	}
	sort.Strings(ids)
	if len(ids) == 0 {
		return nil, nil
	}
	dg, err := client.DescribeGroups(ctx, &kafkago.DescribeGroupsRequest{GroupIDs: ids})
	if err != nil {
		return nil, unavailable(op, err)
	}
	byID := map[string]kafkago.DescribeGroupsResponseGroup{}
	for _, g := range dg.Groups {
		byID[g.GroupID] = g
	}
	out := make([]GroupInfo, 0, len(ids))
	for _, id := range ids {
		g := GroupInfo{ID: id, State: byID[id].GroupState}
		for _, m := range byID[id].Members {
			gm := GroupMember{ID: m.MemberID, ClientID: m.ClientID, Host: m.ClientHost, Assigned: map[string][]int{}}
			for _, t := range m.MemberAssignments.Topics {
				gm.Assigned[t.Topic] = append(gm.Assigned[t.Topic], t.Partitions...)
			}
			g.Members = append(g.Members, gm)
		}
		sort.Slice(g.Members, func(i, j int) bool { return g.Members[i].ID < g.Members[j].ID })
		of, err := client.OffsetFetch(ctx, &kafkago.OffsetFetchRequest{GroupID: id})
		if err == nil && of.Error != nil {
			err = of.Error
		}
		if err != nil {
			return nil, unavailable(op, fmt.Errorf("offsets of group %s: %w", id, err))
		}
		parts := map[string][]int{}
		committed := map[string]map[int]int64{}
		for topic, ps := range of.Topics {
			for _, p := range ps {
				if p.Error != nil || p.CommittedOffset < 0 {
					continue
				}
				parts[topic] = append(parts[topic], p.Partition)
				if committed[topic] == nil {
					committed[topic] = map[int]int64{}
				}
				committed[topic][p.Partition] = p.CommittedOffset
			}
		}
		ends, err := offsets(ctx, client, parts)
		if err != nil {
			return nil, unavailable(op, err)
		}
		for topic, ps := range ends {
			for _, p := range ps {
				c := committed[topic][p.Partition]
				g.Offsets = append(g.Offsets, GroupOffset{Topic: topic, Partition: p.Partition, Committed: c, End: p.End, Lag: max(0, p.End-c)})
			}
		}
		sort.Slice(g.Offsets, func(i, j int) bool {
			a, b := g.Offsets[i], g.Offsets[j]
			return a.Topic < b.Topic || a.Topic == b.Topic && a.Partition < b.Partition
		})
		out = append(out, g)
	}
	return out, nil
}
