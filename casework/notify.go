package casework

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"govx"
	"govx/internal/auth"
	"govx/internal/postgres"
	"govx/internal/workday"
)

// Notifications. Every status change of a case, online or taken in at a
// window, writes a notice for its applicant in the transaction of the
// change: the hall shows it (Service.Notifications), and one outbox row per
// channel (e-mail to Party.Email, SMS to Party.Phone) waits, ready, for a
// gateway to send (Service.NotificationOutbox). govx sends nothing itself.
// Like the case events' outbox (internal/outbox), a notice is written
// exactly when its change commits; unlike it, nothing here is relayed: the
// rows are what a gateway takes. The texts are rendered at the change, in
// Chinese and English, and name the item, the case number and the status,
// never the applicant.

// Notification channels.
const (
	ChannelEmail = "email"
	ChannelSMS   = "sms"
)

// Outbox statuses of a notification.
const (
	NoticeReady     = "ready"      // waits for a gateway
	NoticeNoAddress = "no_address" // the applicant left no address for the channel
)

// Notice is the notice of one status change of a case, for its applicant.
type Notice struct {
	ID      int64     `json:"id"`
	CaseID  string    `json:"case_id"`
	Status  Status    `json:"status"`
	TitleZH string    `json:"title_zh"`
	BodyZH  string    `json:"body_zh"`
	TitleEN string    `json:"title_en"`
	BodyEN  string    `json:"body_en"`
	At      time.Time `json:"at"`
}

// OutboxNotice is one notice to send by one channel: what a mail or SMS
// gateway takes.
type OutboxNotice struct {
	ID      int64  `json:"id"`
	Channel string `json:"channel"`
	Address string `json:"address"`
	Status  string `json:"status"`
	Notice  Notice `json:"notice"`
}

// renderNotice renders the notice of a case's change from status from
// ("" when it was just opened) to its status now, naming the item from
// items.
func renderNotice(items *Catalogue) func(c *Case, from Status) *Notice {
	return func(c *Case, from Status) *Notice {
		name, nameEN := c.Item, c.Item
		if it, err := items.Item(c.Item); err == nil {
			name, nameEN = it.Name, it.NameEN
		}
		var zh, en string
		switch c.Status {
		case Draft:
			zh, en = "已在窗口登记，待受理。", "has been registered at the window and waits to be accepted."
		case Submitted:
			if from == Returned {
				zh, en = "补正后已重新提交，等待部门预审。", "was submitted again with your corrections and waits for pre-review."
			} else {
				zh, en = "已提交，等待部门预审。", "was submitted and waits for the department's pre-review."
			}
		case Returned:
			var codes []string
			if r := c.openReturn(); r != nil {
				for _, x := range r.Items {
					codes = append(codes, x.Material)
				}
			}
			zh = fmt.Sprintf("需要补正（一次性告知）：请按清单补正全部%d项材料后重新提交。", len(codes))
			en = fmt.Sprintf("was returned for corrections: correct all %d items on the list, then submit again.", len(codes))
		case InReview:
			if from == Supplement {
				zh, en = "补充材料已收到，继续审查。", "has your supplements and is under review again."
			} else {
				zh, en = "已受理，进入审查。", "was accepted and is under review."
			}
			if c.Due != nil {
				zh += "承诺办结日期：" + workday.Date(*c.Due) + "。"
				en += " Promised by " + workday.Date(*c.Due) + "."
			}
		case Supplement:
			zh, en = "需要补充材料，请登录查看要求。", "needs supplements: sign in to see what is asked."
		case Approved:
			zh, en = "已审批通过，正在出证。", "was approved; the result is being issued."
		case Rejected:
			zh, en = "未予通过，请登录查看理由。", "was not approved: sign in to see the reason."
		case Ready:
			zh, en = "办理结果已出，可在线查看或到窗口领取。", "has its result: see it online or collect it at the window."
		case Delivered:
			zh, en = "已办结。", "is complete."
		default:
			zh, en = "状态已更新："+string(c.Status)+"。", "changed to "+string(c.Status)+"."
		}
		return &Notice{CaseID: c.ID, Status: c.Status,
			TitleZH: fmt.Sprintf("【政务服务】%s %s", name, c.ID), BodyZH: fmt.Sprintf("您申请的%s（案件号%s）%s", name, c.ID, zh),
			TitleEN: fmt.Sprintf("[Government services] %s %s", nameEN, c.ID), BodyEN: fmt.Sprintf("Your application for %s (case %s) %s", nameEN, c.ID, en),
			At: c.UpdatedAt}
	}
}

// notify writes, inside tx, the notice of c's change from status from and
// its outbox rows. A case taken in at another node for this one to decide
// is that node's to tell its applicant about.
func (s *Store) notify(ctx context.Context, tx pgx.Tx, c *Case, from Status) error {
	if s.notices == nil || c.Origin != nil {
		return nil
	}
	n := s.notices(c, from)
	if n == nil {
		return nil
	}
	if err := tx.QueryRow(ctx, `INSERT INTO casework.notices (case_id, applicant_ref, status, title_zh, body_zh, title_en, body_en, at)
		VALUES ($1,$2,$3,$4,$5,$6,$7,$8) RETURNING id`, c.ID, applicantRef(c.Applicant.Key()), string(n.Status),
		n.TitleZH, n.BodyZH, n.TitleEN, n.BodyEN, n.At).Scan(&n.ID); err != nil {
		return err
	}
	for _, ch := range []struct{ channel, address string }{{ChannelEmail, c.Applicant.Email}, {ChannelSMS, c.Applicant.Phone}} {
		st := NoticeReady
		if strings.TrimSpace(ch.address) == "" {
			st = NoticeNoAddress
		}
		if _, err := tx.Exec(ctx, `INSERT INTO casework.notice_outbox (notice_id, channel, address, status, created_at)
			VALUES ($1,$2,$3,$4,$5)`, n.ID, ch.channel, ch.address, st, n.At); err != nil {
			return err
		}
	}
	return nil
}

// Notifications lists applicant's notices, newest first: at most limit
// (default 50, at most 200) of those before the notice with id before (0:
// the newest).
func (s *Service) Notifications(ctx context.Context, applicant *auth.Claims, before int64, limit int) ([]Notice, error) {
	const op = "casework.Notifications"
	_, key, err := applicantKey(applicant)
	if err != nil {
		return nil, govx.E(op, err)
	}
	if limit <= 0 || limit > 200 {
		limit = 50
	}
	rows, err := s.store.pool.Query(ctx, `SELECT id, case_id, status, title_zh, body_zh, title_en, body_en, at FROM casework.notices
		WHERE applicant_ref = $1 AND ($2 = 0 OR id < $2) ORDER BY id DESC LIMIT $3`, applicantRef(key), before, limit)
	if err != nil {
		return nil, postgres.Translate(op, err, "")
	}
	out, err := pgx.CollectRows(rows, scanNotice)
	return out, postgres.Translate(op, err, "")
}

func scanNotice(r pgx.CollectableRow) (Notice, error) {
	var n Notice
	var st string
	err := r.Scan(&n.ID, &n.CaseID, &st, &n.TitleZH, &n.BodyZH, &n.TitleEN, &n.BodyEN, &n.At)
	n.Status = Status(st)
	return n, err
}

// NotificationOutbox lists, for a supervisor or the gateway's service
// account, the outbox: notifications of status (NoticeReady, or "" for
// any) after the row with id after, oldest first, at most limit (default
// 100, at most 1000). A gateway reads on from the last id it took.
func (s *Service) NotificationOutbox(ctx context.Context, caller *auth.Claims, status string, after int64, limit int) ([]OutboxNotice, error) {
	const op = "casework.NotificationOutbox"
	if err := need(caller, RoleSupervisor, RoleGateway); err != nil {
		return nil, govx.E(op, err)
	}
	if status != "" && status != NoticeReady && status != NoticeNoAddress {
		return nil, govx.E(op, govx.Errorf(govx.KindInvalid, "status_invalid", "status is ready or no_address"))
	}
	if limit <= 0 || limit > 1000 {
		limit = 100
	}
	rows, err := s.store.pool.Query(ctx, `SELECT o.id, o.channel, o.address, o.status,
			n.id, n.case_id, n.status, n.title_zh, n.body_zh, n.title_en, n.body_en, n.at
		FROM casework.notice_outbox o JOIN casework.notices n ON n.id = o.notice_id
		WHERE ($1 = '' OR o.status = $1) AND o.id > $2 ORDER BY o.id LIMIT $3`, status, after, limit)
	if err != nil {
		return nil, postgres.Translate(op, err, "")
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (OutboxNotice, error) {
		var o OutboxNotice
		var st string
		err := r.Scan(&o.ID, &o.Channel, &o.Address, &o.Status, &o.Notice.ID, &o.Notice.CaseID, &st, &o.Notice.TitleZH,
			&o.Notice.BodyZH, &o.Notice.TitleEN, &o.Notice.BodyEN, &o.Notice.At)
		o.Notice.Status = Status(st)
		return o, err
	})
	return out, postgres.Translate(op, err, "")
}
