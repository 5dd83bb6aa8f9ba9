package wallet

import (
	"bytes"
	"io"
	"strings"
	"time"

	"codeberg.org/go-pdf/fpdf"
	qrcode "github.com/skip2/go-qrcode"

	"govx"
	"govx/adapters/licence"
)

// TypeNames names each licence type in English and Chinese.
var TypeNames = map[string][2]string{
	licence.TypeFoodBusiness:  {"Food business licence", "食品经营许可证"},
	licence.TypePharmacy:      {"Pharmaceutical trading licence", "药品经营许可证"},
	licence.TypeConstruction:  {"Construction work safety licence", "建筑施工企业安全生产许可证"},
	licence.TypeRoadTransport: {"Road transport operating licence", "道路运输经营许可证"},
}

// QR is a PNG of a QR code of link, size pixels wide, at the medium
// error correction level (15 %), which survives a crease in a printed
// copy.
func QR(link string, size int) ([]byte, error) {
	png, err := qrcode.Encode(link, qrcode.Medium, size)
	if err != nil {
		return nil, govx.Errorf(govx.KindInternal, "qr_failed", "the QR code could not be drawn: %v", err)
	}
	return png, nil
}

// pinyin gives the characters that licence numbers carry (province and
// city abbreviations and the fixed words of the number formats) in
// pinyin, for the PDF's Latin script.
var pinyin = map[rune]string{
	'京': "Jing", '津': "Jin", '沪': "Hu", '渝': "Yu", '冀': "Ji", '豫': "Yu", '云': "Yun", '辽': "Liao", '黑': "Hei",
	'湘': "Xiang", '皖': "Wan", '鲁': "Lu", '新': "Xin", '苏': "Su", '浙': "Zhe", '赣': "Gan", '鄂': "E", '桂': "Gui",
	'甘': "Gan", '晋': "Jin", '蒙': "Meng", '陕': "Shaan", '吉': "Ji", '闽': "Min", '贵': "Gui", '粤': "Yue", '青': "Qing",
	'藏': "Zang", '川': "Chuan", '宁': "Ning", '琼': "Qiong", '港': "Gang", '澳': "Ao", '台': "Tai",
	'穗': "Sui", '深': "Shen", '蓉': "Rong", '杭': "Hang",
	'安': "An", '许': "Xu", '证': "Zheng", '字': "Zi", '交': "Jiao", '运': "Yun", '管': "Guan", '可': "Ke", '号': "Hao",
}

// latin writes s in the PDF's Latin script: characters in pinyin where
// the table has them, others as "?".
func latin(s string) string {
	var b strings.Builder
	for _, r := range s {
		switch {
		case r < 0x80:
			b.WriteRune(r)
		case pinyin[r] != "":
			b.WriteString(" " + pinyin[r] + " ")
		default:
			b.WriteByte('?')
		}
	}
	return strings.Join(strings.Fields(b.String()), " ")
}

// PDF writes the PDF copy of card to w: the licence's facts in Latin
// script, the status and seal result on the day it was made, the
// verification code, its link (origin + the card's VerifyURL) and QR code.
// The holder is named by code, masked when it is a person's ID number.
func PDF(w io.Writer, card *Card, origin string, now time.Time) error {
	link := origin + card.VerifyURL
	png, err := QR(link, 512)
	if err != nil {
		return err
	}
	pdf := fpdf.New("P", "mm", "A4", "")
	pdf.SetCompression(false) // a page of text and one image: small anyway, and searchable
	pdf.SetCreationDate(now)
	pdf.SetModificationDate(now)
	pdf.SetTitle("Electronic licence copy "+FormatCode(card.Code), false)
	pdf.SetCreator("govx", false)
	pdf.SetMargins(20, 20, 20)
	pdf.AddPage()
	tr := pdf.UnicodeTranslatorFromDescriptor("")
	text := func(s string) string { return tr(latin(s)) }

	pdf.SetFont("Helvetica", "B", 18)
	name := TypeNames[card.Type][0]
	if name == "" {
		name = card.Type
	}
	pdf.CellFormat(0, 10, text(name), "", 1, "L", false, 0, "")
	pdf.SetFont("Helvetica", "", 10)
	pdf.CellFormat(0, 6, "Electronic licence - copy from the electronic licence register", "", 1, "L", false, 0, "")
	pdf.Ln(4)

	holder := card.HolderCodeShown()
	rows := [][2]string{
		{"Licence number", text(card.Number)},
		{"Holder (code)", holder},
		{"Issuing authority (code)", card.AuthCode},
		{"Issued on", card.IssueDate},
		{"Valid", card.ValidFrom + " to " + card.ValidUntil},
		{"Status on " + now.UTC().Format(time.DateOnly), card.Status},
		{"Electronic seal", sealText(card)},
		{"Verification code", FormatCode(card.Code)},
	}
	for _, r := range rows {
		pdf.SetFont("Helvetica", "B", 11)
		pdf.CellFormat(60, 8, r[0], "B", 0, "L", false, 0, "")
		pdf.SetFont("Helvetica", "", 11)
		pdf.CellFormat(0, 8, r[1], "B", 1, "L", false, 0, "")
	}
	pdf.Ln(6)
	y := pdf.GetY()
	pdf.RegisterImageOptionsReader("qr", fpdf.ImageOptions{ImageType: "PNG"}, bytes.NewReader(png))
	pdf.ImageOptions("qr", 20, y, 50, 50, false, fpdf.ImageOptions{ImageType: "PNG"}, 0, "")
	pdf.SetXY(75, y+2)
	pdf.SetFont("Helvetica", "", 10)
	pdf.MultiCell(0, 5, tr("Scan the code or open the address below, or enter the verification code "+FormatCode(card.Code)+
		" on the verification page, to check this licence's seal and its status today: "+link), "", "L", false)
	pdf.SetXY(20, y+56)
	pdf.SetFont("Helvetica", "I", 8)
	pdf.MultiCell(0, 4, "This copy is set in Latin script: Chinese characters of the licence number are given in pinyin, "+
		"the holder and the issuing authority by their codes. The status shown is the one on the day of the copy; "+
		"the verification page shows the register's status now. The verification page names no holder.", "", "L", false)
	if err := pdf.Error(); err != nil {
		return govx.Errorf(govx.KindInternal, "pdf_failed", "the PDF could not be made: %v", err)
	}
	return pdf.Output(w)
}

// HolderCodeShown is the holder's code as a copy shows it: a company's
// unified social credit code in full, a person's ID number masked.
func (c *Card) HolderCodeShown() string {
	return holderShown(c.holderCode)
}

func holderShown(code string) string {
	if govx.ValidateUSCC(code) == nil {
		return code
	}
	return govx.MaskSubject(code)
}

func sealText(c *Card) string {
	if c.Seal == SealValid {
		return "valid (checked against the issuer's published key)"
	}
	return "INVALID (" + c.SealCode + ")"
}
