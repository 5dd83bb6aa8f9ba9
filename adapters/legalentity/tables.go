package legalentity

import (
	"strings"
	"time"

	"govx/adapters/population"
)

// The reference tables the generator draws from.

// division is a GB/T 2260 division of the population generator, with the
// spellings names and authorities take from it.
type division struct {
	population.Division
	local  string // below the province: "北京市朝阳区", "石家庄市长安区", "延吉市"
	city   string // what company names start with: "北京", "石家庄", "延吉"
	branch string // what a branch there is called after: "朝阳", "长安", "延吉"
}

var (
	divs     = newDivisions()
	divIndex = func() map[string]int {
		m := make(map[string]int, len(divs))
		for i, d := range divs {
			m[d.Code] = i
		}
		return m
	}()
	divPicker = func() *picker {
		w := make([]int, len(divs))
		for i, d := range divs {
			w[i] = d.Weight
		}
		return newPicker(w)
	}()
)

func newDivisions() []division {
	pd := population.Divisions()
	out := make([]division, len(pd))
	for i, d := range pd {
		out[i] = spell(d)
	}
	return out
}

// spell derives the local, city and branch spellings of a division name
// such as "湖北省恩施土家族苗族自治州恩施市".
func spell(d population.Division) division {
	local := d.Name
	for _, province := range []string{"省", "自治区"} {
		if _, rest, ok := strings.Cut(local, province); ok {
			local = rest
			break
		}
	}
	// An autonomous prefecture or a prefecture-level area: the
	// county-level city below it stands on its own.
	for _, pref := range []string{"自治州", "地区"} {
		if _, rest, ok := strings.Cut(local, pref); ok {
			local = rest
		}
	}
	city, district, _ := strings.Cut(local, "市")
	if district == "" {
		district = city
	}
	branch := district
	if strings.HasSuffix(branch, "区") && !strings.HasSuffix(branch, "新区") {
		branch = strings.TrimSuffix(branch, "区")
	}
	return division{Division: d, local: local, city: city, branch: branch}
}

// entityKind is one type of market entity with how it is registered.
type entityKind struct {
	typ      string
	usccType byte      // position 2 of the USCC: 1 enterprise, 2 individual business
	weight   int       // share of new registrations, per mille
	since    time.Time // when the law that created the type took effect
	capital  []int64   // registered capital options, in 10,000 yuan (万元); none for branches and individual businesses
	stay     int       // per mille still in business
	closing  []string  // reasons it deregisters
}

func date(y int, m time.Month, d int) time.Time { return time.Date(y, m, d, 0, 0, 0, 0, time.UTC) }

// kinds: individual businesses are about two thirds of China's market
// entities, companies nearly all the rest.
var kinds = []entityKind{
	{TypeLimitedLiability, '1', 300, date(1994, 7, 1), // 公司法
		[]int64{3, 10, 10, 30, 50, 50, 100, 100, 100, 200, 300, 500, 500, 1000, 1000, 2000, 5000}, 850, companyClosing},
	{TypeJointStock, '1', 10, date(1994, 7, 1),
		[]int64{500, 1000, 2000, 3000, 5000, 10000, 30000, 100000}, 920, companyClosing},
	{TypeSoleProprietorship, '1', 20, date(2000, 1, 1), // 个人独资企业法
		[]int64{1, 3, 5, 10, 10, 20, 50, 100}, 800,
		[]string{"投资人决定解散", "简易注销", "依法宣告破产"}},
	{TypePartnership, '1', 15, date(1997, 8, 1), // 合伙企业法
		[]int64{10, 100, 500, 1000, 3000, 10000}, 850,
		[]string{"全体合伙人决定解散", "合伙协议约定的解散事由出现", "简易注销"}},
	{TypeBranch, '1', 25, date(1994, 7, 1), nil, 820, []string{"隶属企业决定撤销分公司", "隶属企业注销"}},
	{TypeIndividualBusiness, '2', 630, date(1987, 9, 1), nil, 750, // 城乡个体工商户管理暂行条例
		[]string{"经营者申请注销", "简易注销", "经营者死亡"}},
}

var kindPicker = func() *picker {
	w := make([]int, len(kinds))
	for i, k := range kinds {
		w[i] = k.weight
	}
	return newPicker(w)
}()

// tradeChars make trade names (字号): two of them, e.g. 鑫源, 恒通.
var tradeChars = []string{"华", "宏", "鑫", "盛", "恒", "达", "信", "源", "通", "泰", "嘉", "瑞",
	"丰", "祥", "兴", "隆", "德", "安", "博", "创", "汇", "金", "新", "天", "中", "联", "星", "辰",
	"远", "益", "和", "美", "优", "智", "卓", "聚", "凯", "腾", "昌", "顺", "旭", "锦", "润", "银",
	"海", "东", "方", "正", "科", "诚", "永", "富", "佳", "亿", "荣", "立", "云", "景", "明", "宇"}

// industry is a line of business: the words names use for it and the
// standard scope items (经营范围规范表述) that go with it.
type industry struct {
	terms  []string
	scopes []string
}

var industries = []industry{
	{[]string{"科技", "信息技术", "网络科技", "软件技术", "智能科技", "数字科技"}, []string{
		"技术服务、技术开发、技术咨询、技术交流、技术转让、技术推广", "软件开发", "信息系统集成服务",
		"计算机系统服务", "数据处理和存储支持服务", "网络技术服务", "信息技术咨询服务",
		"人工智能应用软件开发", "计算机软硬件及辅助设备零售", "互联网数据服务"}},
	{[]string{"贸易", "商贸", "进出口", "实业"}, []string{
		"日用百货销售", "五金产品批发", "电子产品销售", "服装服饰批发", "针纺织品销售", "建筑材料销售",
		"化工产品销售（不含许可类化工产品）", "货物进出口", "技术进出口", "食品销售（仅销售预包装食品）",
		"办公用品销售", "家用电器销售"}},
	{[]string{"餐饮管理", "餐饮", "酒店管理"}, []string{
		"餐饮管理", "餐饮服务", "食品经营", "外卖递送服务", "酒店管理", "食品互联网销售（仅销售预包装食品）",
		"住宿服务"}},
	{[]string{"建筑工程", "建设工程", "装饰工程", "建筑劳务"}, []string{
		"建设工程施工", "住宅室内装饰装修", "建筑劳务分包", "园林绿化工程施工", "市政设施管理",
		"建筑装饰材料销售", "土石方工程施工", "工程管理服务"}},
	{[]string{"文化传媒", "文化传播", "广告", "影视文化"}, []string{
		"组织文化艺术交流活动", "广告设计、代理", "广告制作", "广告发布", "会议及展览服务",
		"电影摄制服务", "数字内容制作服务（不含出版发行）", "图文设计制作", "摄影扩印服务"}},
	{[]string{"物流", "供应链管理", "货运代理"}, []string{
		"普通货物仓储服务（不含危险化学品等需许可审批的项目）", "道路货物运输（不含危险货物）",
		"国内货物运输代理", "装卸搬运", "供应链管理服务", "国际货物运输代理", "运输货物打包服务"}},
	{[]string{"医药", "大药房", "医疗器械", "生物科技"}, []string{
		"药品零售", "药品批发", "第二类医疗器械销售", "第一类医疗器械销售", "保健食品（预包装）销售",
		"医学研究和试验发展", "卫生用品和一次性使用医疗用品销售"}},
	{[]string{"新能源", "新能源科技", "电力工程"}, []string{
		"太阳能发电技术服务", "新能源汽车整车销售", "储能技术服务", "光伏设备及元器件销售",
		"合同能源管理", "电池销售", "充电桩销售"}},
	{[]string{"教育咨询", "企业管理咨询", "人力资源", "商务咨询"}, []string{
		"教育咨询服务（不含涉许可审批的教育培训活动）",
		"业务培训（不含教育培训、职业技能培训等需取得许可的培训）", "企业管理咨询",
		"信息咨询服务（不含许可类信息咨询服务）", "人力资源服务（不含职业中介活动、劳务派遣服务）",
		"市场营销策划", "社会经济咨询服务"}},
	{[]string{"房地产开发", "置业", "物业管理"}, []string{
		"房地产开发经营", "物业管理", "房地产经纪", "住房租赁", "非居住房地产租赁", "停车场服务"}},
	{[]string{"机械设备", "机电设备", "自动化设备"}, []string{
		"通用设备制造（不含特种设备制造）", "机械设备销售", "机械设备租赁", "普通机械设备安装服务",
		"金属加工机械制造", "五金产品零售", "工业自动控制系统装置销售"}},
	{[]string{"农业发展", "农业科技", "生态农业"}, []string{
		"谷物种植", "蔬菜种植", "水果种植", "农产品的生产、销售、加工、运输、贮藏及其他相关服务",
		"畜牧渔业饲料销售", "农业机械服务", "休闲观光活动"}},
	{[]string{"食品", "食品科技", "农副产品"}, []string{
		"食品生产", "食品销售", "农副产品销售", "食用农产品批发", "食品进出口", "食品添加剂销售"}},
	{[]string{"电子", "电子科技", "光电科技"}, []string{
		"电子元器件制造", "电子产品销售", "电子专用设备制造", "集成电路设计", "通讯设备销售",
		"光电子器件制造"}},
}

// partnershipIndustry: limited partnerships are mostly investment
// vehicles.
var partnershipIndustry = industry{
	[]string{"投资", "股权投资", "创业投资", "企业管理"}, []string{
		"以自有资金从事投资活动", "股权投资", "创业投资（限投资未上市企业）", "企业管理咨询",
		"以私募基金从事股权投资、投资管理、资产管理等活动（须在中国证券投资基金业协会完成登记备案后方可从事经营活动）",
		"信息咨询服务（不含许可类信息咨询服务）"}}

// generalScopes are added to many companies' scopes whatever their line.
var generalScopes = []string{"企业管理咨询", "会议及展览服务", "市场营销策划", "货物进出口",
	"信息咨询服务（不含许可类信息咨询服务）", "非居住房地产租赁"}

// soleSuffixes end the names of sole proprietorships.
var soleSuffixes = []string{"工作室", "商行", "经营部", "服务部", "中心"}

// shop is a kind of individual business.
type shop struct {
	names  []string
	scopes []string
}

var shops = []shop{
	{[]string{"面馆", "小吃店", "餐馆", "饭店", "快餐店", "烧烤店"}, []string{
		"餐饮服务", "小餐饮", "食品销售（仅销售预包装食品）", "酒类经营", "外卖递送服务"}},
	{[]string{"便利店", "超市", "副食店", "商店", "烟酒店"}, []string{
		"食品销售", "日用百货销售", "烟草制品零售", "食用农产品零售", "酒类经营", "文具用品零售"}},
	{[]string{"理发店", "美发店", "美容店", "美甲店"}, []string{
		"理发服务", "生活美容服务", "化妆品零售", "美甲服务", "洗烫服务"}},
	{[]string{"服装店", "鞋店", "服饰店"}, []string{
		"服装服饰零售", "鞋帽零售", "针纺织品销售", "箱包销售", "服装辅料销售"}},
	{[]string{"五金店", "建材店", "五金建材商行"}, []string{
		"五金产品零售", "建筑材料销售", "电线、电缆经营", "卫生洁具销售", "建筑装饰材料销售"}},
	{[]string{"水果店", "生鲜店", "蔬菜店"}, []string{
		"食用农产品零售", "新鲜水果零售", "新鲜蔬菜零售", "水产品零售", "鲜肉零售"}},
	{[]string{"家电维修部", "手机维修店", "电器商行"}, []string{
		"日用电器修理", "通讯设备修理", "家用电器销售", "通讯设备销售", "电子产品销售"}},
	{[]string{"汽车修理厂", "汽车美容店", "轮胎店"}, []string{
		"机动车修理和维护", "汽车装饰用品销售", "轮胎销售", "洗车服务", "汽车零配件零售"}},
}

var officeStreets = []string{"科技路", "创业路", "高新路", "工业大道", "软件园路", "金融街",
	"商务大道", "人民路", "解放路", "中山路", "建设路", "长江路", "黄河路", "新华路", "和平路",
	"滨江大道", "东风路", "学院路", "迎宾大道", "世纪大道", "经济技术开发区发展大道", "未来路"}

var towers = []string{"国际大厦", "商务中心", "科技大厦", "金融中心", "创业园", "财富广场",
	"万达广场", "写字楼A座", "写字楼B座", "总部基地"}

var shopStreets = []string{"人民路", "解放路", "中山路", "建设路", "和平路", "新华路", "文化路",
	"胜利路", "朝阳路", "青年路", "光明路", "幸福路", "南大街", "北大街", "东大街", "西大街",
	"步行街", "农贸市场", "站前街", "花园路", "民生路", "夜市街"}

// Reasons entities leave business.
var (
	companyClosing = []string{
		"股东会决议解散", "营业期限届满", "简易注销", "因合并、分立解散", "依法宣告破产"}
	revokeReasons = []string{
		"成立后无正当理由超过6个月未开业，或者开业后自行停业连续6个月以上",
		"未按规定报送年度报告，被列入经营异常名录届满3年仍未履行公示义务",
		"提交虚假材料或者采取其他欺诈手段隐瞒重要事实取得登记，情节严重",
		"利用市场主体登记，牟取非法利益，情节严重"}
)
