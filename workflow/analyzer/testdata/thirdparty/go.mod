// A module of someone else's: the analyzer does not follow calls into it.
module example.com/thirdparty

go 1.26
