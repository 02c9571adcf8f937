module redcore

go 1.19
