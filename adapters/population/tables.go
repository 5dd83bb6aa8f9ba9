package population

// The reference tables the generator draws from. Division codes are real
// district-level codes of GB/T 2260; weights are relative and only need to
// look plausible.

// division is one county-level unit of registration.
type division struct {
	code    string // GB/T 2260 code, 6 digits
	address string // province, city and district as written on a household register
	weight  int    // relative population, 1–5; scales how many residents it gets
	people  int    // index into ethnicProfiles
	lanes   bool   // addresses use lanes (弄), as in Shanghai
}

// Ethnic make-up of a division. The default is the eastern, overwhelmingly
// Han pattern; regions with large minorities have their own.
const (
	peopleDefault = iota
	peopleBeijing
	peopleNorthEast
	peopleYanbian
	peopleInnerMongolia
	peopleGuangxi
	peopleGuizhou
	peopleYunnan
	peopleDali
	peopleEnshi
	peopleXiangxi
	peopleHunan
	peopleChongqing
	peopleTibet
	peopleNingxia
	peopleQinghai
	peopleGansu
	peopleUrumqi
	peopleKashgar
	peopleHainan
)

var divisions = []division{
	// Beijing
	{"110101", "北京市东城区", 2, peopleBeijing, false},
	{"110102", "北京市西城区", 2, peopleBeijing, false},
	{"110105", "北京市朝阳区", 5, peopleBeijing, false},
	{"110106", "北京市丰台区", 3, peopleBeijing, false},
	{"110107", "北京市石景山区", 1, peopleBeijing, false},
	{"110108", "北京市海淀区", 5, peopleBeijing, false},
	{"110112", "北京市通州区", 3, peopleBeijing, false},
	{"110114", "北京市昌平区", 3, peopleBeijing, false},
	{"110115", "北京市大兴区", 3, peopleBeijing, false},
	// Tianjin
	{"120101", "天津市和平区", 1, peopleDefault, false},
	{"120102", "天津市河东区", 2, peopleDefault, false},
	{"120103", "天津市河西区", 2, peopleDefault, false},
	{"120104", "天津市南开区", 2, peopleDefault, false},
	{"120116", "天津市滨海新区", 4, peopleDefault, false},
	// Hebei
	{"130102", "河北省石家庄市长安区", 2, peopleDefault, false},
	{"130104", "河北省石家庄市桥西区", 2, peopleDefault, false},
	{"130203", "河北省唐山市路北区", 2, peopleNorthEast, false},
	{"130602", "河北省保定市竞秀区", 2, peopleDefault, false},
	// Shanxi
	{"140105", "山西省太原市小店区", 3, peopleDefault, false},
	{"140106", "山西省太原市迎泽区", 2, peopleDefault, false},
	{"140107", "山西省太原市杏花岭区", 2, peopleDefault, false},
	// Inner Mongolia
	{"150102", "内蒙古自治区呼和浩特市新城区", 2, peopleInnerMongolia, false},
	{"150103", "内蒙古自治区呼和浩特市回民区", 1, peopleInnerMongolia, false},
	{"150203", "内蒙古自治区包头市昆都仑区", 2, peopleInnerMongolia, false},
	// Liaoning
	{"210102", "辽宁省沈阳市和平区", 2, peopleNorthEast, false},
	{"210103", "辽宁省沈阳市沈河区", 2, peopleNorthEast, false},
	{"210202", "辽宁省大连市中山区", 1, peopleNorthEast, false},
	{"210203", "辽宁省大连市西岗区", 1, peopleNorthEast, false},
	{"210204", "辽宁省大连市沙河口区", 2, peopleNorthEast, false},
	// Jilin
	{"220102", "吉林省长春市南关区", 2, peopleNorthEast, false},
	{"220104", "吉林省长春市朝阳区", 2, peopleNorthEast, false},
	{"222401", "吉林省延边朝鲜族自治州延吉市", 2, peopleYanbian, false},
	// Heilongjiang
	{"230102", "黑龙江省哈尔滨市道里区", 2, peopleNorthEast, false},
	{"230103", "黑龙江省哈尔滨市南岗区", 3, peopleNorthEast, false},
	{"230104", "黑龙江省哈尔滨市道外区", 2, peopleNorthEast, false},
	// Shanghai
	{"310101", "上海市黄浦区", 2, peopleDefault, true},
	{"310104", "上海市徐汇区", 3, peopleDefault, true},
	{"310105", "上海市长宁区", 2, peopleDefault, true},
	{"310106", "上海市静安区", 3, peopleDefault, true},
	{"310107", "上海市普陀区", 3, peopleDefault, true},
	{"310109", "上海市虹口区", 2, peopleDefault, true},
	{"310110", "上海市杨浦区", 3, peopleDefault, true},
	{"310112", "上海市闵行区", 4, peopleDefault, true},
	{"310115", "上海市浦东新区", 5, peopleDefault, true},
	// Jiangsu
	{"320102", "江苏省南京市玄武区", 2, peopleDefault, false},
	{"320104", "江苏省南京市秦淮区", 2, peopleDefault, false},
	{"320106", "江苏省南京市鼓楼区", 3, peopleDefault, false},
	{"320506", "江苏省苏州市吴中区", 3, peopleDefault, false},
	{"320508", "江苏省苏州市姑苏区", 2, peopleDefault, false},
	// Zhejiang
	{"330102", "浙江省杭州市上城区", 3, peopleDefault, false},
	{"330105", "浙江省杭州市拱墅区", 3, peopleDefault, false},
	{"330106", "浙江省杭州市西湖区", 3, peopleDefault, false},
	{"330108", "浙江省杭州市滨江区", 2, peopleDefault, false},
	{"330203", "浙江省宁波市海曙区", 2, peopleDefault, false},
	{"330302", "浙江省温州市鹿城区", 2, peopleDefault, false},
	// Anhui
	{"340102", "安徽省合肥市瑶海区", 2, peopleDefault, false},
	{"340103", "安徽省合肥市庐阳区", 2, peopleDefault, false},
	{"340104", "安徽省合肥市蜀山区", 3, peopleDefault, false},
	// Fujian
	{"350102", "福建省福州市鼓楼区", 2, peopleDefault, false},
	{"350103", "福建省福州市台江区", 1, peopleDefault, false},
	{"350203", "福建省厦门市思明区", 2, peopleDefault, false},
	{"350206", "福建省厦门市湖里区", 2, peopleDefault, false},
	// Jiangxi
	{"360102", "江西省南昌市东湖区", 2, peopleDefault, false},
	{"360103", "江西省南昌市西湖区", 2, peopleDefault, false},
	// Shandong
	{"370102", "山东省济南市历下区", 2, peopleDefault, false},
	{"370103", "山东省济南市市中区", 2, peopleDefault, false},
	{"370202", "山东省青岛市市南区", 2, peopleDefault, false},
	{"370203", "山东省青岛市市北区", 3, peopleDefault, false},
	// Henan
	{"410102", "河南省郑州市中原区", 2, peopleDefault, false},
	{"410105", "河南省郑州市金水区", 4, peopleDefault, false},
	{"410302", "河南省洛阳市老城区", 1, peopleDefault, false},
	// Hubei
	{"420102", "湖北省武汉市江岸区", 3, peopleDefault, false},
	{"420106", "湖北省武汉市武昌区", 3, peopleDefault, false},
	{"420111", "湖北省武汉市洪山区", 4, peopleDefault, false},
	{"422801", "湖北省恩施土家族苗族自治州恩施市", 2, peopleEnshi, false},
	// Hunan
	{"430102", "湖南省长沙市芙蓉区", 2, peopleHunan, false},
	{"430104", "湖南省长沙市岳麓区", 3, peopleHunan, false},
	{"433101", "湖南省湘西土家族苗族自治州吉首市", 1, peopleXiangxi, false},
	// Guangdong
	{"440103", "广东省广州市荔湾区", 2, peopleDefault, false},
	{"440104", "广东省广州市越秀区", 2, peopleDefault, false},
	{"440105", "广东省广州市海珠区", 3, peopleDefault, false},
	{"440106", "广东省广州市天河区", 4, peopleDefault, false},
	{"440303", "广东省深圳市罗湖区", 2, peopleDefault, false},
	{"440304", "广东省深圳市福田区", 3, peopleDefault, false},
	{"440305", "广东省深圳市南山区", 3, peopleDefault, false},
	{"440306", "广东省深圳市宝安区", 5, peopleDefault, false},
	{"440307", "广东省深圳市龙岗区", 5, peopleDefault, false},
	// Guangxi
	{"450102", "广西壮族自治区南宁市兴宁区", 1, peopleGuangxi, false},
	{"450103", "广西壮族自治区南宁市青秀区", 2, peopleGuangxi, false},
	{"450302", "广西壮族自治区桂林市秀峰区", 1, peopleGuangxi, false},
	// Hainan
	{"460105", "海南省海口市秀英区", 1, peopleHainan, false},
	{"460106", "海南省海口市龙华区", 2, peopleHainan, false},
	// Chongqing
	{"500103", "重庆市渝中区", 2, peopleChongqing, false},
	{"500105", "重庆市江北区", 2, peopleChongqing, false},
	{"500106", "重庆市沙坪坝区", 3, peopleChongqing, false},
	{"500112", "重庆市渝北区", 4, peopleChongqing, false},
	// Sichuan
	{"510104", "四川省成都市锦江区", 2, peopleDefault, false},
	{"510105", "四川省成都市青羊区", 2, peopleDefault, false},
	{"510107", "四川省成都市武侯区", 3, peopleDefault, false},
	{"510108", "四川省成都市成华区", 3, peopleDefault, false},
	// Guizhou
	{"520102", "贵州省贵阳市南明区", 2, peopleGuizhou, false},
	{"520103", "贵州省贵阳市云岩区", 2, peopleGuizhou, false},
	// Yunnan
	{"530102", "云南省昆明市五华区", 2, peopleYunnan, false},
	{"530103", "云南省昆明市盘龙区", 2, peopleYunnan, false},
	{"532901", "云南省大理白族自治州大理市", 1, peopleDali, false},
	// Tibet
	{"540102", "西藏自治区拉萨市城关区", 1, peopleTibet, false},
	// Shaanxi
	{"610102", "陕西省西安市新城区", 2, peopleDefault, false},
	{"610103", "陕西省西安市碑林区", 2, peopleDefault, false},
	{"610104", "陕西省西安市莲湖区", 2, peopleDefault, false},
	{"610113", "陕西省西安市雁塔区", 4, peopleDefault, false},
	// Gansu
	{"620102", "甘肃省兰州市城关区", 2, peopleGansu, false},
	{"620103", "甘肃省兰州市七里河区", 1, peopleGansu, false},
	// Qinghai
	{"630102", "青海省西宁市城东区", 1, peopleQinghai, false},
	{"630103", "青海省西宁市城中区", 1, peopleQinghai, false},
	// Ningxia
	{"640104", "宁夏回族自治区银川市兴庆区", 2, peopleNingxia, false},
	// Xinjiang
	{"650102", "新疆维吾尔自治区乌鲁木齐市天山区", 2, peopleUrumqi, false},
	{"650103", "新疆维吾尔自治区乌鲁木齐市沙依巴克区", 2, peopleUrumqi, false},
	{"653101", "新疆维吾尔自治区喀什地区喀什市", 2, peopleKashgar, false},
}

// weighted is a value with a relative weight.
type weighted struct {
	value  string
	weight int
}

// ethnicProfiles give, per mille, the ethnic groups of a division's
// residents, roughly after the 2020 census.
var ethnicProfiles = [...][]weighted{
	peopleDefault: {{"汉族", 975}, {"回族", 7}, {"满族", 5}, {"壮族", 3}, {"土家族", 3}, {"苗族", 2},
		{"蒙古族", 2}, {"朝鲜族", 1}, {"彝族", 1}, {"维吾尔族", 1}},
	peopleBeijing: {{"汉族", 955}, {"满族", 20}, {"回族", 15}, {"蒙古族", 5}, {"朝鲜族", 2},
		{"土家族", 2}, {"壮族", 1}},
	peopleNorthEast: {{"汉族", 880}, {"满族", 80}, {"蒙古族", 15}, {"朝鲜族", 13}, {"回族", 10},
		{"锡伯族", 2}},
	peopleYanbian: {{"汉族", 520}, {"朝鲜族", 460}, {"满族", 10}, {"回族", 10}},
	peopleInnerMongolia: {{"汉族", 840}, {"蒙古族", 110}, {"回族", 30}, {"满族", 15},
		{"达斡尔族", 5}},
	peopleGuangxi: {{"汉族", 560}, {"壮族", 400}, {"瑶族", 15}, {"侗族", 10}, {"苗族", 10}, {"回族", 5}},
	peopleGuizhou: {{"汉族", 820}, {"苗族", 60}, {"布依族", 60}, {"侗族", 15}, {"彝族", 10},
		{"土家族", 15}, {"回族", 10}, {"仡佬族", 10}},
	peopleYunnan: {{"汉族", 850}, {"彝族", 70}, {"回族", 30}, {"白族", 20}, {"苗族", 10},
		{"哈尼族", 10}, {"傣族", 10}},
	peopleDali:      {{"白族", 650}, {"汉族", 310}, {"彝族", 20}, {"回族", 20}},
	peopleEnshi:     {{"汉族", 540}, {"土家族", 380}, {"苗族", 60}, {"侗族", 20}},
	peopleXiangxi:   {{"苗族", 400}, {"土家族", 350}, {"汉族", 250}},
	peopleHunan:     {{"汉族", 970}, {"土家族", 15}, {"苗族", 10}, {"回族", 5}},
	peopleChongqing: {{"汉族", 970}, {"土家族", 20}, {"苗族", 10}},
	peopleTibet:     {{"藏族", 700}, {"汉族", 270}, {"回族", 25}, {"门巴族", 5}},
	peopleNingxia:   {{"汉族", 700}, {"回族", 280}, {"满族", 10}, {"蒙古族", 10}},
	peopleQinghai: {{"汉族", 740}, {"回族", 160}, {"藏族", 60}, {"土族", 25}, {"撒拉族", 10},
		{"蒙古族", 5}},
	peopleGansu:  {{"汉族", 955}, {"回族", 35}, {"东乡族", 5}, {"藏族", 5}},
	peopleUrumqi: {{"汉族", 720}, {"维吾尔族", 130}, {"回族", 90}, {"哈萨克族", 40}, {"满族", 10}, {"蒙古族", 10}},
	peopleKashgar: {{"维吾尔族", 880}, {"汉族", 105}, {"回族", 5}, {"塔吉克族", 5},
		{"柯尔克孜族", 5}},
	peopleHainan: {{"汉族", 960}, {"黎族", 30}, {"苗族", 5}, {"回族", 5}},
}

// birthYearWeights give the relative size of each birth cohort still alive
// in the register, a rough picture of China's age pyramid: the small war
// years, the baby booms of 1962–1975 and 1985–1990, the falling births after.
var birthYearWeights = [...]struct{ from, to, weight int }{
	{1940, 1944, 1},
	{1945, 1949, 2},
	{1950, 1953, 4},
	{1954, 1958, 5},
	{1959, 1961, 3},
	{1962, 1975, 7},
	{1976, 1984, 5},
	{1985, 1990, 7},
	{1991, 1996, 5},
	{1997, 2008, 4},
}

const (
	firstBirthYear = 1940
	lastBirthYear  = 2008
)

// surnames, weighted per 10,000 after the 2020 census ranking.
var surnames = []weighted{
	{"王", 710}, {"李", 700}, {"张", 640}, {"刘", 540}, {"陈", 460}, {"杨", 310}, {"黄", 220},
	{"赵", 220}, {"吴", 200}, {"周", 190}, {"徐", 160}, {"孙", 150}, {"马", 150}, {"朱", 130},
	{"胡", 120}, {"郭", 120}, {"何", 120}, {"林", 110}, {"高", 110}, {"罗", 90}, {"郑", 85},
	{"梁", 85}, {"谢", 70}, {"宋", 70}, {"唐", 70}, {"许", 65}, {"韩", 65}, {"冯", 65},
	{"邓", 65}, {"曹", 60}, {"彭", 60}, {"曾", 60}, {"肖", 55}, {"田", 55}, {"董", 55},
	{"袁", 50}, {"潘", 50}, {"于", 50}, {"蒋", 50}, {"蔡", 50}, {"余", 50}, {"杜", 45},
	{"叶", 45}, {"程", 45}, {"苏", 45}, {"魏", 45}, {"吕", 45}, {"丁", 40}, {"任", 40},
	{"沈", 40}, {"姚", 40}, {"卢", 40}, {"姜", 40}, {"崔", 35}, {"钟", 35}, {"谭", 35},
	{"陆", 35}, {"汪", 35}, {"范", 35}, {"金", 30}, {"石", 30}, {"廖", 30}, {"贾", 30},
	{"夏", 30}, {"韦", 30}, {"付", 30}, {"方", 30}, {"白", 28}, {"邹", 28}, {"孟", 28},
	{"熊", 28}, {"秦", 28}, {"邱", 28}, {"江", 28}, {"尹", 26}, {"薛", 26}, {"闫", 26},
	{"段", 26}, {"雷", 26}, {"侯", 24}, {"龙", 24}, {"史", 24}, {"陶", 22}, {"黎", 22},
	{"贺", 22}, {"顾", 22}, {"毛", 22}, {"郝", 22}, {"龚", 20}, {"邵", 20}, {"万", 20},
	{"钱", 20}, {"严", 20}, {"覃", 18}, {"武", 18}, {"戴", 18}, {"莫", 16}, {"孔", 16},
	{"向", 16}, {"汤", 16}, {"欧阳", 3}, {"司马", 1}, {"上官", 1}, {"诸葛", 1},
}

// huiSurnames: among the Hui, Ma (马, from Muhammad) is by far the most common.
var huiSurnames = []weighted{
	{"马", 400}, {"王", 80}, {"李", 70}, {"张", 60}, {"杨", 50}, {"白", 40}, {"哈", 30},
	{"丁", 30}, {"金", 30}, {"田", 20}, {"海", 20}, {"沙", 20}, {"刘", 20}, {"穆", 20},
	{"冯", 20}, {"纳", 15}, {"苏", 15}, {"兰", 10}, {"米", 10}, {"虎", 10}, {"锁", 10},
}

// koreanSurnames of the Chosŏn (朝鲜族), written in their Han characters.
var koreanSurnames = []weighted{
	{"金", 220}, {"李", 150}, {"朴", 90}, {"崔", 50}, {"郑", 45}, {"姜", 25}, {"赵", 22},
	{"尹", 20}, {"张", 20}, {"林", 17}, {"韩", 15}, {"吴", 15}, {"申", 12}, {"权", 10},
	{"徐", 10}, {"黄", 10}, {"安", 9}, {"宋", 9}, {"全", 7}, {"洪", 6},
}

// zhuangSurnames: the Zhuang share the Han surnames but favour a few.
var zhuangSurnames = []weighted{
	{"黄", 150}, {"韦", 120}, {"覃", 90}, {"莫", 60}, {"陆", 50}, {"李", 50}, {"蓝", 40},
	{"梁", 40}, {"农", 30}, {"卢", 30}, {"潘", 30}, {"蒙", 25}, {"黎", 25}, {"罗", 25},
	{"陈", 25}, {"廖", 20}, {"何", 20}, {"周", 20}, {"谭", 15}, {"杨", 15},
}

// Given names change with the times: the cohort born before 1975 has the
// revolutionary and traditional names, the younger one the fashionable
// characters of the eighties onwards.
var (
	olderMaleNames = []string{"建国", "国庆", "建华", "建军", "卫东", "卫国", "志强", "志刚",
		"国强", "国平", "德胜", "永红", "红兵", "学军", "振华", "海峰", "立新", "新民", "保国",
		"建平", "玉林", "长青", "富强", "宝山", "金生", "明亮", "援朝", "跃进", "胜利", "世杰"}
	olderFemaleNames = []string{"秀英", "桂英", "秀兰", "玉兰", "桂兰", "淑珍", "凤英", "玉梅",
		"秀珍", "红梅", "丽华", "淑英", "翠花", "玉珍", "桂芝", "秀云", "美兰", "淑兰", "春梅",
		"秀芳", "丽娟", "红霞", "建英", "小红", "素芬", "月娥", "金凤", "彩霞"}
	olderMaleChars = []string{"伟", "强", "军", "勇", "刚", "明", "平", "华", "斌", "林",
		"杰", "涛", "峰", "辉", "东", "波", "忠", "文", "德", "福", "春", "海", "山", "荣"}
	olderFemaleChars = []string{"英", "华", "红", "梅", "兰", "芳", "霞", "萍", "玲", "燕",
		"敏", "丽", "静", "娟", "琴", "珍", "秀", "凤", "桂", "艳", "云", "莲"}
	youngerMaleChars = []string{"浩", "宇", "轩", "子", "睿", "博", "文", "俊", "杰", "泽",
		"涛", "鹏", "磊", "伟", "晨", "阳", "鑫", "昊", "然", "天", "一", "航", "凯", "嘉",
		"明", "辰", "翔", "宁", "豪", "逸", "铭", "瑞", "洋", "健", "志", "毅", "帆", "超", "亮", "斌"}
	youngerFemaleChars = []string{"欣", "怡", "婷", "雨", "萱", "梓", "涵", "诗", "佳", "琪",
		"雪", "晴", "可", "馨", "悦", "思", "颖", "琳", "瑶", "慧", "倩", "静", "雯", "丹",
		"妍", "嘉", "璐", "楠", "蕾", "露", "月", "梦", "薇", "冰", "彤", "芳", "敏", "娜"}
)

// Names of peoples who do not use a Han surname.
var (
	// Uyghur and Kazakh names are written "own name·father's name".
	turkicMaleNames = []string{"艾力", "买买提", "阿不都热合曼", "艾买提", "吐尔洪", "依明",
		"阿里木", "努尔艾力", "麦麦提敏", "热合曼", "阿布都拉", "亚森", "库尔班", "肉孜",
		"吾斯曼", "艾合买提", "努尔兰", "叶尔兰", "阿斯哈尔", "塔依尔"}
	turkicFemaleNames = []string{"古丽", "阿依古丽", "热依拉", "努尔古丽", "帕提古丽",
		"米热古丽", "迪丽拜尔", "阿依努尔", "古丽巴哈尔", "祖丽皮亚", "阿依夏木", "再努尔",
		"古丽娜尔", "美合日班"}
	// Tibetan names have two parts, the second often marked by sex.
	tibetanFirstParts   = []string{"扎西", "次仁", "格桑", "索朗", "尼玛", "达瓦", "边巴", "旦增", "白玛", "普布", "拉巴", "米玛"}
	tibetanMaleSecond   = []string{"顿珠", "多吉", "平措", "旺堆", "罗布", "群培", "朗杰", "加措", "坚参", "欧珠"}
	tibetanFemaleSecond = []string{"卓玛", "央金", "拉姆", "德吉", "曲珍", "央宗", "措姆", "旺姆", "玉珍", "普赤"}
	// Many Mongols in towns carry Han names; the rest a Mongolian one.
	mongolianMaleNames   = []string{"巴特尔", "苏和", "朝鲁", "宝音", "额尔敦", "那顺", "孟和", "巴雅尔", "特木尔", "阿拉坦", "毕力格", "吉日嘎拉"}
	mongolianFemaleNames = []string{"其其格", "萨仁", "乌云", "斯琴", "高娃", "娜仁", "图雅", "乌兰", "托娅", "塔娜", "萨日娜", "格日勒"}
)

// streets are names found in nearly every Chinese city.
var streets = []string{"人民路", "解放路", "中山路", "建设路", "和平路", "新华路", "文化路",
	"胜利路", "朝阳路", "长江路", "黄河路", "青年路", "光明路", "民主路", "幸福路", "工农路",
	"东风路", "团结路", "滨江路", "友谊路", "健康路", "学府路", "延安路", "红旗路", "五一路",
	"八一路", "复兴路", "振兴路", "建国路", "兴华街", "南大街", "北大街", "东大街", "西大街",
	"育才路", "公园路", "体育路", "环城路", "花园路", "新民街", "民生路", "工业路", "迎宾路",
	"金桥路", "春风路", "永安街", "太平街", "江滨路", "湖滨路", "文明路", "丰收路", "民族路",
	"站前街", "中华路", "新建路", "跃进路", "劳动路", "百花路", "桃源路", "青松路"}
