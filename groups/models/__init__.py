from groups.models.bots import Bot, BotGroup
from groups.models.channel_codes import ChannelCode, ChannelCodeAdd, ChannelCodeMember, WeComSync
from groups.models.group_codes import GroupCode, GroupCodeGroup
from groups.models.groups import WECOM_ID_LENGTH, CustomerGroup, GroupMember
from groups.models.stats import GroupDailyStat
from groups.models.stores import Store

__all__ = [
    "WECOM_ID_LENGTH",
    "Bot",
    "BotGroup",
    "ChannelCode",
    "ChannelCodeAdd",
    "ChannelCodeMember",
    "CustomerGroup",
    "GroupCode",
    "GroupCodeGroup",
    "GroupDailyStat",
    "GroupMember",
    "Store",
    "WeComSync",
]
